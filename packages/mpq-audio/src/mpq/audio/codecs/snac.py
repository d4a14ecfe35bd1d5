"""SNAC, the Multi-Scale Neural Audio Codec (snac 1.2): 24 kHz speech, 32 and 44 kHz music models.

Rate: the payload is the packed code indices (`mpq.audio.codes`: 12 bits per index, 4096-entry
codebooks, plus a 3-byte header and 5 bytes per scale and channel). SNAC quantizes at several
frame rates, one codebook each (the 24 kHz model at 12, 23 and 47 Hz: 0.98 kbps; the 32 kHz model
at four rates up to 83 Hz: 1.9 kbps; the 44 kHz model at four up to 115 Hz: 2.6 kbps), so each
scale is one code stream. The input is padded as SNAC's `preprocess` pads it (to a multiple of
the hop times the coarsest stride and the attention window), so short items carry the padding's
codes.
SNAC has no lighter setting than its full code set; its three models are its operating points,
so it has no rate knob to target. Codes come from the model's `encode` and go back through
its `decode`, whose noise blocks draw Gaussian noise: mpq draws it from a fixed seed, so the same
payload always decodes to the same audio. See `mpq.audio.codecs.rvq` for resampling and channels.

Weights: `pretrained=true` loads the published models with `SNAC.from_pretrained` from the
Hugging Face hub (hubertsiuzdak/snac_24khz, _32khz, _44khz) through its cache; offline, set
`checkpoint=DIR` to a folder holding the model's `config.json` and `pytorch_model.bin` (what
the hub repository holds), which `from_pretrained` reads the same way.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from mpq.audio.codecs.rvq import CodeCodec
from mpq.core.codec import Param
from mpq.core.errors import MpqError, ParameterError
from mpq.core.weights import seeded

MODEL_RATES = {"snac_24khz": 24000, "snac_32khz": 32000, "snac_44khz": 44100}
HUB = "hubertsiuzdak/"
DECODER_SEED = 0


class SNAC(CodeCodec):
    name = "snac"
    description = "SNAC multi-scale neural codec (snac), packed code indices"
    models = tuple(MODEL_RATES)
    parameters = (
        Param("model", str, "snac_24khz", choices=models, help="the operating point"),
        Param("pretrained", bool, True, help="false: random weights"),
        Param("checkpoint", str, "", help="local folder with config.json + pytorch_model.bin"),
    )

    def load_model(self) -> Any:
        return load_model(
            self.values["model"], self.values["pretrained"], self.values["checkpoint"]
        )

    def model_rate(self, model: Any) -> int:
        return int(model.sampling_rate)

    def codebook_size(self, model: Any) -> int:
        return int(model.codebook_size)

    def to_codes(self, model: Any, waveform: torch.Tensor) -> list[torch.Tensor]:
        return [codes[:, None, :] for codes in model.encode(waveform)]

    def to_waveform(self, model: Any, codes: list[torch.Tensor]) -> torch.Tensor:
        # The decoder's NoiseBlocks add torch.randn noise: a fixed seed makes decoding
        # repeatable, and the caller's random state is left as it was.
        with seeded(DECODER_SEED):
            return model.decode([scale[:, 0, :] for scale in codes])


@functools.lru_cache(maxsize=4)
def load_model(name: str, pretrained: bool, checkpoint: str) -> Any:
    """The model once per process, in eval mode."""
    from snac import SNAC as Model

    if checkpoint:
        folder = Path(checkpoint)
        if not (folder / "config.json").is_file() or not (folder / "pytorch_model.bin").is_file():
            raise ParameterError(
                f"snac: checkpoint={checkpoint!r} must be a folder holding config.json and"
                " pytorch_model.bin."
            )
        model = Model.from_pretrained(str(folder))
    elif pretrained:
        try:
            model = Model.from_pretrained(HUB + name)
        except Exception as error:
            raise MpqError(
                f"snac: cannot load the pretrained {name} model ({error}). It downloads from the"
                f" Hugging Face hub ({HUB}{name}) into its cache; offline, download that"
                " repository's config.json and pytorch_model.bin into a folder and pass"
                " checkpoint=DIR."
            ) from error
    else:
        with seeded(0):  # the same random model in every process
            model = Model(**random_config(name))
    if model.sampling_rate != MODEL_RATES[name]:
        raise ParameterError(
            f"snac: the checkpoint is a {model.sampling_rate} Hz model, not {name}"
            f" ({MODEL_RATES[name]} Hz)."
        )
    return model.eval()


def random_config(name: str) -> dict[str, Any]:
    """The published models' config.json values, for random weights (their code rates are the
    0.98, 1.9 and 2.6 kbps SNAC's README gives, which the tests check)."""
    if name == "snac_24khz":
        return {
            "sampling_rate": 24000,
            "encoder_rates": [2, 4, 8, 8],
            "decoder_rates": [8, 8, 4, 2],
            "encoder_dim": 48,
            "decoder_dim": 1024,
            "attn_window_size": None,
            "vq_strides": [4, 2, 1],
            "depthwise": True,
            "noise": True,
        }
    return {
        "sampling_rate": MODEL_RATES[name],
        "encoder_dim": 64,
        "encoder_rates": [2, 3, 8, 8],
        "decoder_dim": 1536,
        "decoder_rates": [8, 8, 3, 2],
        "attn_window_size": 32,
        "vq_strides": [8, 4, 2, 1],
        "depthwise": True,
        "noise": True,
    }

"""DAC, the Descript Audio Codec (descript-audio-codec 1.0): 16, 24 and 44.1 kHz mono models.

Rate: the payload is the packed residual-VQ code indices (`mpq.audio.codes`: 10 bits per index,
1024-entry codebooks, plus a 3-byte header and 5 bytes per channel), so kbps = frame rate x
`n_codebooks` x 10 / 1000 plus the header over the item: 86.1 frames/s for the 44.1 kHz model
(hop 512: 0.86 kbps per codebook, 9 codebooks), 50 frames/s for the 16 kHz model (hop 320: 0.5
kbps per codebook, 12 codebooks), 75 frames/s for the 24 kHz model (hop 320, 32 codebooks). The
codes come from the model's own `preprocess`/`encode(x, n_quantizers)` and go back through
`quantizer.from_codes` and `decode`, the programmatic use of DAC's README; DAC's file-writing
`compress` (which also normalises loudness to -16 LUFS and codes 1-s chunks into a pickled
.dac file) is not used. DAC's decoder returns a few samples (8 for the 16 kHz model) fewer than
the padded input, cut at the end exactly as `decompress` does; they are zero-filled to the
original length. `n_codebooks` above a model's count codes with all of them, and the row
records the count used. See `mpq.audio.codecs.rvq` for resampling and channels.

Weights: `pretrained=true` takes DAC's released weights, which `dac.utils.download` fetches from
the project's GitHub releases into ~/.cache/descript/dac/; offline, place the file there or pass
`checkpoint=PATH` to a weights file in DAC's format (`DAC.save(path, package=False)`: the state
dict plus the model's constructor arguments), loaded by `dac.utils.load_model(load_path=...)`.
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

MODEL_RATES = {"dac_44khz": 44100, "dac_24khz": 24000, "dac_16khz": 16000}
RELEASES = "https://github.com/descriptinc/descript-audio-codec/releases"


class DAC(CodeCodec):
    name = "dac"
    description = "Descript Audio Codec (descript-audio-codec), packed RVQ code indices"
    models = tuple(MODEL_RATES)
    parameters = (
        Param("n_codebooks", int, 9, low=1, high=32, rate=+1, help="residual codebooks used"),
        Param("model", str, "dac_44khz", choices=models),
        Param("pretrained", bool, True, help="false: random weights"),
        Param("checkpoint", str, "", help="local DAC weights file to load instead of downloading"),
    )

    def setup(self) -> None:
        super().setup()
        self.values["n_codebooks"] = min(self.values["n_codebooks"], self._model.n_codebooks)

    def load_model(self) -> Any:
        return load_model(
            self.values["model"], self.values["pretrained"], self.values["checkpoint"]
        )

    def model_rate(self, model: Any) -> int:
        return int(model.sample_rate)

    def codebook_size(self, model: Any) -> int:
        return int(model.codebook_size)

    def to_codes(self, model: Any, waveform: torch.Tensor) -> list[torch.Tensor]:
        x = model.preprocess(waveform, model.sample_rate)
        _, codes, *_ = model.encode(x, n_quantizers=self.values["n_codebooks"])
        return [codes]

    def to_waveform(self, model: Any, codes: list[torch.Tensor]) -> torch.Tensor:
        z, *_ = model.quantizer.from_codes(codes[0])
        return model.decode(z)


@functools.lru_cache(maxsize=4)
def load_model(name: str, pretrained: bool, checkpoint: str) -> Any:
    """The model once per process (every codebook count shares it), in eval mode."""
    import dac

    rate = MODEL_RATES[name]
    if checkpoint:
        if not Path(checkpoint).is_file():
            raise ParameterError(f"dac: checkpoint={checkpoint!r} is not a file.")
        model = dac.utils.load_model(load_path=checkpoint)
    elif pretrained:
        kind = name.removeprefix("dac_")
        try:
            model = dac.utils.load_model(model_type=kind, model_bitrate="8kbps")
        except Exception as error:
            cache = Path.home() / ".cache" / "descript" / "dac"
            raise MpqError(
                f"dac: cannot load the pretrained {name} weights ({error}). They download from"
                f" {RELEASES} into {cache}/weights_{kind}_8kbps_<tag>.pth; offline, put the file"
                " there or pass checkpoint=PATH to a local DAC weights file."
            ) from error
    else:
        with seeded(0):  # the same random model in every process
            model = dac.DAC(**random_config(name))
    if model.sample_rate != rate:
        raise ParameterError(
            f"dac: the checkpoint is a {model.sample_rate} Hz model, not {name} ({rate} Hz)."
        )
    return model.eval()


def random_config(name: str) -> dict[str, Any]:
    """The released models' architectures (DAC's conf/final/*.yml), for random weights."""
    if name == "dac_44khz":
        return {}  # DAC's constructor defaults are the 44.1 kHz model
    codebooks = 32 if name == "dac_24khz" else 12
    return {
        "encoder_rates": [2, 4, 5, 8],
        "decoder_rates": [8, 5, 4, 2],
        "n_codebooks": codebooks,
        "sample_rate": MODEL_RATES[name],
    }

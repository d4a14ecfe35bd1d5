"""Mimi, Kyutai's streaming speech codec behind Moshi, through transformers' `MimiModel`.

Rate: the payload is the packed code indices (`mpq.audio.codes`: 11 bits per index, 2048-entry
codebooks, plus a 3-byte header and 5 bytes per channel). Mimi codes 24 kHz audio at 12.5 frames
per second (hop 1920), so kbps = 12.5 x `n_codebooks` x 11 / 1000 plus the header over the item:
0.1375 kbps per codebook, 1.1 kbps at the 8 codebooks Moshi uses, 4.4 kbps at all 32. The first
codebook is the semantic (distilled) one, the rest acoustic residuals; `encode(...,
num_quantizers=n)` keeps the first n and `decode` takes them back. `n_codebooks` above the
model's count codes with all of them, and the row records the count used. Items are coded in one
non-streaming pass; see `mpq.audio.codecs.rvq` for resampling and channels.

Weights: `pretrained=true` loads kyutai/mimi with `MimiModel.from_pretrained` from the Hugging
Face hub through its cache; offline, set `checkpoint=DIR` to a local copy of that repository (or
any folder `save_pretrained` wrote), which `from_pretrained` reads the same way.
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

HUB_ID = "kyutai/mimi"
MODEL_RATE = 24000


class Mimi(CodeCodec):
    name = "mimi"
    description = "Mimi neural speech codec (transformers MimiModel), packed code indices"
    models = ("mimi",)
    parameters = (
        Param("n_codebooks", int, 8, low=1, high=32, rate=+1, help="codebooks used (1 semantic)"),
        Param("model", str, "mimi", choices=models, help=f"{HUB_ID}"),
        Param("pretrained", bool, True, help="false: random weights"),
        Param("checkpoint", str, "", help="local folder of the model (save_pretrained layout)"),
    )

    def setup(self) -> None:
        super().setup()
        most = self._model.config.num_quantizers
        self.values["n_codebooks"] = min(self.values["n_codebooks"], most)

    def load_model(self) -> Any:
        return load_model(self.values["pretrained"], self.values["checkpoint"])

    def model_rate(self, model: Any) -> int:
        return int(model.config.sampling_rate)

    def codebook_size(self, model: Any) -> int:
        return int(model.config.codebook_size)

    def to_codes(self, model: Any, waveform: torch.Tensor) -> list[torch.Tensor]:
        return [model.encode(waveform, num_quantizers=self.values["n_codebooks"]).audio_codes]

    def to_waveform(self, model: Any, codes: list[torch.Tensor]) -> torch.Tensor:
        return model.decode(codes[0]).audio_values


@functools.lru_cache(maxsize=2)
def load_model(pretrained: bool, checkpoint: str) -> Any:
    """The model once per process (every codebook count shares it), in eval mode."""
    from transformers import MimiConfig, MimiModel

    if checkpoint:
        if not (Path(checkpoint) / "config.json").is_file():
            raise ParameterError(
                f"mimi: checkpoint={checkpoint!r} must be a folder holding the model's"
                " config.json and weights (as save_pretrained writes them)."
            )
        model = MimiModel.from_pretrained(checkpoint)
    elif pretrained:
        try:
            model = MimiModel.from_pretrained(HUB_ID)
        except Exception as error:
            raise MpqError(
                f"mimi: cannot load the pretrained model ({error}). It downloads from the Hugging"
                f" Face hub ({HUB_ID}) into its cache; offline, download that repository into a"
                " folder and pass checkpoint=DIR."
            ) from error
    else:
        with seeded(0):  # the same random model in every process
            model = MimiModel(MimiConfig())
    if model.config.sampling_rate != MODEL_RATE:
        raise ParameterError(
            f"mimi: the checkpoint is a {model.config.sampling_rate} Hz model; Mimi codes"
            f" {MODEL_RATE} Hz audio."
        )
    return model.eval()

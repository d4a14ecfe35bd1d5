"""EnCodec (encodec 0.1.1): Meta's neural audio codec, 24 kHz mono or 48 kHz stereo.

Rate: the payload is exactly what `encodec.compress.compress` writes: the ECDC header (model
name, audio length at the model rate, codebook count, LM flag), the per-segment scales of the
48 kHz model, and the codebook indices, bit-packed (10 bits each) or arithmetic-coded with
EnCodec's small language model (`use_lm=true`). So the counted kbps is a little above the nominal
codebook rate, which equals the `bandwidth` parameter (stored in the row's codec parameters).

The input is resampled to the model rate with `mpq.audio.signal.resample` (torchaudio,
kaiser_best) and back; stereo input to the mono model is averaged to mono and decoded to both
channels, mono input to the stereo model is duplicated and the decoded channels are averaged;
more than two channels are refused. The decoder takes the model rate and the length at that rate
from the payload header, and the original rate, channels and length from the extent.

`bandwidth` values between a model's operating points (as rate targeting tries) snap down to the
operating point below, or up to the lowest one (3 kbps for the 48 kHz model); the value recorded
is the one used. Weights: pretrained ones come from Meta's host through torch hub's cache, or
from a local state dict (`checkpoint=`); `pretrained=false` builds random weights (for tests).

EnCodec codes one clip at a time, also in a batch (`batches` is false): its model does not give a
batch the floats of its clips alone, even on the CPU. The 48 kHz model's per-segment scale (a
mean over samples, written to the payload as a float32) can differ in its last bit, and the
decoded waveform by about 1e-7, from the LSTMs and convolutions of encodec 0.1.1 under torch's CPU
kernels; the bytes of a batched clip would then depend on the clips batched with it
(benchmarks/batched_codecs.py measures both the difference and the speed a batch would give).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

from mpq.audio.signal import Audio, check_channels, fit, resample
from mpq.core.codec import Codec, Param
from mpq.core.errors import MpqError, ParameterError
from mpq.core.rate import Bitstream

BANDWIDTHS = {"encodec_24khz": (1.5, 3.0, 6.0, 12.0, 24.0), "encodec_48khz": (3.0, 6.0, 12.0, 24.0)}
WEIGHT_URL = "https://dl.fbaipublicfiles.com/encodec/v0/"


class EnCodec(Codec):
    """EnCodec through the package's own entropy-coded compress/decompress."""

    libraries = ("mpq-audio", "encodec", "torch", "torchaudio")

    name = "encodec"
    modality = "audio"
    description = "EnCodec neural codec (encodec 0.1.1), real entropy-coded payload"
    parameters = (
        Param("bandwidth", float, 6.0, low=1.5, high=24.0, rate=+1, help="nominal kbps (1.5..24)"),
        Param("model", str, "encodec_24khz", choices=tuple(BANDWIDTHS)),
        Param("pretrained", bool, True, help="false: random weights"),
        Param("checkpoint", str, "", help="local state dict to load instead of downloading"),
        Param("use_lm", bool, False, help="arithmetic-code with EnCodec's language model"),
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        points = BANDWIDTHS[self.values["model"]]
        below = [b for b in points if b <= self.values["bandwidth"]]
        self.values["bandwidth"] = below[-1] if below else points[0]
        self._model: Any = None

    def setup(self) -> None:
        self._model = load_model(
            self.values["model"], self.values["pretrained"], self.values["checkpoint"]
        )
        if self.values["use_lm"]:
            try:
                self._model.get_lm_model()
            except Exception as error:
                raise MpqError(
                    f"encodec: use_lm=true needs the language model weights for"
                    f" {self.values['model']} ({WEIGHT_URL}encodec_lm_*.th), downloaded into"
                    f" {torch.hub.get_dir()}/checkpoints; they could not be loaded ({error})."
                ) from error

    def encode(self, audio: Audio) -> Bitstream:
        from encodec.compress import compress

        check_channels(audio, self.name)
        model = self._loaded()
        samples = resample(audio.samples, audio.sample_rate, model.sample_rate)
        if model.channels == 1:
            samples = samples.mean(axis=0, keepdims=True)
        else:
            samples = np.repeat(samples, model.channels // audio.channels, axis=0)
        model.set_target_bandwidth(self.values["bandwidth"])
        payload = compress(model, torch.from_numpy(samples), use_lm=self.values["use_lm"])
        return Bitstream(payload, audio.extent)

    def decode(self, bitstream: Bitstream) -> Audio:
        from encodec.compress import MODELS, decompress

        model = self._loaded()
        # The package's decompress builds a pretrained model by name; hand it the loaded one.
        with mock.patch.dict(MODELS, {model.name: lambda: model}):
            wav, rate = decompress(bitstream.payload)
        samples = wav.numpy().astype(np.float32)
        channels = bitstream.extent.channels
        if samples.shape[0] > channels:
            samples = samples.mean(axis=0, keepdims=True)
        elif samples.shape[0] < channels:
            samples = np.repeat(samples, channels, axis=0)
        return fit(resample(samples, rate, bitstream.extent.sample_rate), bitstream.extent)

    def _loaded(self) -> Any:
        if self._model is None:
            self.setup()
        return self._model


@functools.lru_cache(maxsize=4)
def load_model(name: str, pretrained: bool, checkpoint: str) -> Any:
    """The model once per process (every bandwidth shares it), in eval mode."""
    from encodec import EncodecModel

    build = getattr(EncodecModel, name.replace("encodec_", "encodec_model_"))
    model = build(pretrained=False)
    if checkpoint:
        path = Path(checkpoint)
        if not path.is_file():
            raise ParameterError(f"encodec: checkpoint={checkpoint!r} is not a file.")
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    elif pretrained:
        try:
            model = build(pretrained=True)
        except Exception as error:
            raise MpqError(
                f"encodec: cannot load the pretrained {name} weights ({error}). They download"
                f" from {WEIGHT_URL} into torch hub's cache ({torch.hub.get_dir()}/checkpoints);"
                " offline, put the file there or pass checkpoint=PATH to a local state dict."
            ) from error
    # compress/decompress accept only the names of the released models.
    model.name = name
    return model.eval()

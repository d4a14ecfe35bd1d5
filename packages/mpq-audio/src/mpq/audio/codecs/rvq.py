"""What DAC, SNAC and Mimi share: neural codecs whose bitstream is their packed code indices.

Each of these libraries turns a (batch, 1, samples) waveform at its model rate into integer
code indices and back, and writes no bitstream of its own that mpq could count. The payload is
`mpq.audio.codes.pack_codes` of the indices (see there for the exact layout and bit count),
one code stream per channel and scale. The input is resampled to the model rate with
`mpq.audio.signal.resample` (torchaudio, kaiser_best) and back; every model here is mono,
so stereo items are coded as two mono items (their channels form the batch, as DAC's own
`compress` does), and decoded audio is cut to exactly the original length. Subclasses load the
model once per process and say how to get codes and audio from it.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from mpq.audio.codes import pack_codes, unpack_codes
from mpq.audio.signal import Audio, check_channels, fit, resample
from mpq.core.codec import Codec
from mpq.core.errors import MpqError
from mpq.core.rate import Bitstream


class CodeCodec(Codec):
    """A neural codec whose payload is the packed code indices of a model named by `model`."""

    modality = "audio"
    models: ClassVar[tuple[str, ...]]

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._model: Any = None

    def setup(self) -> None:
        self._model = self.load_model()

    @abstractmethod
    def load_model(self) -> Any:
        """The model for these values, in eval mode (cached per process by the subclass)."""

    @abstractmethod
    def model_rate(self, model: Any) -> int: ...

    @abstractmethod
    def codebook_size(self, model: Any) -> int: ...

    @abstractmethod
    def to_codes(self, model: Any, waveform: torch.Tensor) -> list[torch.Tensor]:
        """(batch, 1, samples) at the model rate -> per scale, (batch, codebooks, frames)."""

    @abstractmethod
    def to_waveform(self, model: Any, codes: list[torch.Tensor]) -> torch.Tensor:
        """The inverse of `to_codes`: (batch, 1, samples) at the model rate."""

    def encode(self, audio: Audio) -> Bitstream:
        check_channels(audio, self.name)
        model = self._loaded()
        rate = self.model_rate(model)
        samples = resample(audio.samples, audio.sample_rate, rate)
        waveform = torch.from_numpy(np.ascontiguousarray(samples)).unsqueeze(1)
        with torch.inference_mode():
            scales = self.to_codes(model, waveform)
        streams = [scale[channel].numpy() for channel in range(audio.channels) for scale in scales]
        payload = pack_codes(self.model_id(), streams, self.codebook_size(model))
        return Bitstream(payload, audio.extent)

    def decode(self, bitstream: Bitstream) -> Audio:
        model = self._loaded()
        model_id, streams = unpack_codes(bitstream.payload)
        if model_id != self.model_id():
            raise MpqError(
                f"{self.name}: the payload was coded by model {self.models[model_id]!r}"
                f" (id {model_id}); this codec runs {self.values['model']!r}."
                if model_id < len(self.models)
                else f"{self.name}: the payload names an unknown model id {model_id}."
            )
        channels = bitstream.extent.channels
        if not streams or len(streams) % channels:
            raise MpqError(
                f"{self.name}: {len(streams)} code streams do not split over {channels} channels."
            )
        per_channel = len(streams) // channels
        codes = [
            torch.from_numpy(np.stack([streams[c * per_channel + s] for c in range(channels)]))
            for s in range(per_channel)
        ]
        with torch.inference_mode():
            waveform = self.to_waveform(model, codes)
        samples = resample(
            waveform[:, 0].float().numpy(), self.model_rate(model), bitstream.extent.sample_rate
        )
        return fit(samples, bitstream.extent)

    def model_id(self) -> int:
        return self.models.index(self.values["model"])

    def _loaded(self) -> Any:
        if self._model is None:
            self.setup()
        return self._model

"""Audio items: float32 samples in [-1, 1], shaped (channels, samples), with their sample rate.

Every audio codec, task and metric takes and returns `Audio`, whose samples are always finite.
`shape` is the samples' shape, so the engine's check that a decoded item has exactly the
original's shape covers channels and length. Files are read with soundfile (WAV, FLAC, OGG) or
PyAV (anything FFmpeg reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mpq.core.errors import MpqError
from mpq.core.rate import AudioExtent


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32, (channels, samples)
    sample_rate: int

    def __post_init__(self) -> None:
        if not isinstance(self.samples, np.ndarray) or self.samples.ndim != 2:
            raise ValueError("Audio.samples must be a (channels, samples) array")
        if self.samples.dtype != np.float32:
            raise ValueError(f"Audio.samples must be float32, got {self.samples.dtype}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {self.sample_rate}")
        finite = np.isfinite(self.samples)
        if not finite.all():
            bad = int(finite.size - finite.sum())
            raise ValueError(
                f"{bad} of {finite.size} samples are NaN or infinite; mpq measures finite audio"
                " (repair or drop the clip)."
            )

    @property
    def shape(self) -> tuple[int, int]:
        return self.samples.shape

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def length(self) -> int:
        return self.samples.shape[1]

    @property
    def duration_s(self) -> float:
        return self.length / self.sample_rate

    @property
    def extent(self) -> AudioExtent:
        return AudioExtent(self.length, self.channels, self.sample_rate)


def load_audio(path: str | Path) -> Audio:
    """Any file FFmpeg reads, as float32 (channels, samples) at its own rate; clear errors."""
    import av

    path = Path(path)
    if not path.is_file():
        raise MpqError(f"{path}: no such file.")
    try:
        with av.open(str(path)) as container:
            stream = next(s for s in container.streams if s.type == "audio")
            rate = stream.rate
            frames = [
                frame.to_ndarray().reshape(frame.layout.nb_channels, -1)
                if frame.format.is_planar
                else frame.to_ndarray().reshape(-1, frame.layout.nb_channels).T
                for frame in container.decode(stream)
            ]
    except StopIteration:
        raise MpqError(f"{path}: has no audio stream.") from None
    except (av.FFmpegError, OSError, ValueError) as error:
        raise MpqError(f"{path}: not a readable audio file ({error}).") from error
    if not frames:
        raise MpqError(f"{path}: the audio stream is empty.")
    samples = np.concatenate(frames, axis=1)
    try:
        return Audio(_to_float32(samples), int(rate))
    except ValueError as error:
        raise MpqError(f"{path}: {error}") from error


def _to_float32(samples: np.ndarray) -> np.ndarray:
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(np.iinfo(samples.dtype).max) + 1.0
        return np.ascontiguousarray(samples.astype(np.float32) / scale)
    return np.ascontiguousarray(samples.astype(np.float32))

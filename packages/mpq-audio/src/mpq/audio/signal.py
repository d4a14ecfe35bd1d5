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

# torchaudio's "kaiser_best" resampling: Kaiser-windowed sinc, zero phase (no delay is added).
_KAISER_BEST = {
    "lowpass_filter_width": 64,
    "rolloff": 0.9475937167399596,
    "resampling_method": "sinc_interp_kaiser",
    "beta": 14.769656459379492,
}
MAX_CHANNELS = 2


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
            stored_float = stream.codec_context.name.startswith(("pcm_f32", "pcm_f64"))
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
    try:
        audio = Audio(_to_float32(np.concatenate(frames, axis=1)), int(rate))
    except ValueError as error:
        raise MpqError(f"{path}: {error}") from error
    peak = float(np.abs(audio.samples).max()) if stored_float else 0.0
    if peak > 1.0:
        # Codecs take samples in [-1, 1] and clip the rest while the original keeps them: the
        # metrics would measure the clipping, not the codec.
        raise MpqError(
            f"{path}: float samples reach {peak:.3g}, above full scale (1.0); lossy codecs clip"
            " their input there, so the metrics would measure the clipping. Scale the file to"
            " full scale first (divide by its peak)."
        )
    return audio


def _to_float32(samples: np.ndarray) -> np.ndarray:
    if np.issubdtype(samples.dtype, np.integer):
        scale = float(np.iinfo(samples.dtype).max) + 1.0
        return np.ascontiguousarray(samples.astype(np.float32) / scale)
    return np.ascontiguousarray(samples.astype(np.float32))


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """(channels, samples) float32 from `rate` to `new_rate` (torchaudio, kaiser_best).

    On one torch thread: split over more, the convolution of a short clip (10 ms) came out
    different in the last bits, so a codec worker (one thread) and the sweep's own process (a
    cache hit, `--workers 0`) gave the same row different SI-SDR and PSNR."""
    if rate == new_rate or samples.shape[1] == 0:
        return samples
    import torch  # imported by the first resample, not by every module that reads audio
    import torchaudio.functional as AF

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = AF.resample(
            torch.from_numpy(np.ascontiguousarray(samples)), rate, new_rate, **_KAISER_BEST
        )
    finally:
        torch.set_num_threads(threads)
    return out.numpy()


def fit(samples: np.ndarray, extent: AudioExtent) -> Audio:
    """Cut or zero-pad to the extent's length; the channel count must already match."""
    if samples.shape[0] != extent.channels:
        raise MpqError(f"decoded {samples.shape[0]} channels, the original has {extent.channels}.")
    out = np.zeros((extent.channels, extent.samples), np.float32)
    n = min(extent.samples, samples.shape[1])
    out[:, :n] = samples[:, :n]
    return Audio(out, extent.sample_rate)


def check_channels(audio: Audio, codec: str) -> None:
    if audio.channels > MAX_CHANNELS:
        raise MpqError(
            f"{codec}: {audio.channels}-channel audio is not supported; mpq codes mono and"
            " stereo only (downmix the dataset first)."
        )


def smallest_rate_at_least(rate: int, rates: tuple[int, ...]) -> int:
    """The lowest of a codec's sample `rates` (ascending) that keeps `rate`, else its highest."""
    return next((r for r in rates if r >= rate), rates[-1])

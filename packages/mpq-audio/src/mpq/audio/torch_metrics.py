"""Audio metrics computed with torch: the log-mel distance (torchaudio) and CDPAM (a network).

Sample-wise metrics are computed in float64. (SI-SDR and PSNR need no torch: see
`sample_metrics`; the input checks common to all are in `audio_metric`.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpq.audio.audio_metric import AudioMetric
from mpq.audio.signal import Audio
from mpq.core.errors import MpqError

CDPAM_RATE = 22050
INT16_SCALE = 32768.0


class LogMelDistance(AudioMetric):
    """Mean absolute difference of natural-log mel magnitude spectrograms (HiFi-GAN's mel loss).

    torchaudio MelSpectrogram at the item's own rate: n_fft = win_length = 1024, hop 256, Hann
    window, centred frames with reflect padding, power 1 (magnitude), 80 mels from 0 Hz to
    rate / 2, Slaney mel scale and Slaney area normalisation (librosa's defaults). Then
    log(max(mel, 1e-5)) and the mean |difference| over channels, mels and frames, in float64.
    Identical audio gives 0. The window is fixed in samples, so values at different rates cover
    different durations per frame: compare like with like.
    """

    name = "log-mel"
    higher_is_better = False
    beside_codec = True
    libraries = ("mpq-audio", "torch", "torchaudio")
    input_range = "float samples in [-1, 1] at the item's rate (no resampling)"
    description = "mean |log-mel difference| (80 mels, n_fft 1024, hop 256, floor 1e-5)"
    n_fft = 1024
    hop = 256
    n_mels = 80
    floor = 1e-5

    def __init__(self) -> None:
        super().__init__()
        self._transforms: dict[int, Any] = {}

    def _pair(self, reference: Audio, decoded: Audio) -> float:
        if reference.length <= self.n_fft // 2:
            raise MpqError(
                f"{self.name} needs more than {self.n_fft // 2} samples per channel; got"
                f" {reference.length}. Leave {self.name} out for such short items."
            )
        transform = self._transform(reference.sample_rate)
        both = torch.from_numpy(np.stack([reference.samples, decoded.samples])).to(torch.float64)
        with torch.inference_mode():
            logmel = transform(both.to(self.device)).clamp(min=self.floor).log()
            difference = (logmel[1] - logmel[0]).abs().cpu().numpy()
        # numpy's mean: torch splits a large reduction over its threads, and its last bits then
        # depend on how many the process has (one in a codec worker, all cores in the sweep's).
        return float(difference.mean())

    def _transform(self, rate: int) -> Any:
        if rate not in self._transforms:
            import torchaudio

            mel = torchaudio.transforms.MelSpectrogram(
                sample_rate=rate,
                n_fft=self.n_fft,
                win_length=self.n_fft,
                hop_length=self.hop,
                f_min=0.0,
                f_max=rate / 2,
                n_mels=self.n_mels,
                power=1.0,
                center=True,
                pad_mode="reflect",
                norm="slaney",
                mel_scale="slaney",
            )
            self._transforms[rate] = mel.to(dtype=torch.float64, device=self.device)
        return self._transforms[rate]


class CDPAM(AudioMetric):
    """CDPAM (Manocha et al. 2021), the distance of the cdpam package with its shipped weights.

    As `cdpam.load_audio` prepares audio for the model: mono (the mean of the channels, as
    librosa.load's default), resampled to 22.05 kHz with librosa's default resampler (soxr_hq)
    and scaled to int16 values, round(x * 32768), given as float32 (N, samples). Pairs run one
    at a time (lengths differ, and the network's memory grows with length). Lower is better;
    identical audio gives 0.
    """

    name = "cdpam"
    higher_is_better = False
    libraries = ("mpq-audio", "torch", "cdpam", "librosa")
    input_range = "float samples in [-1, 1], converted to mono 22.05 kHz int16-scale floats"
    description = "CDPAM distance (cdpam package weights), mono at 22.05 kHz"

    def __init__(self) -> None:
        super().__init__()
        self.model: Any = None

    def setup(self, device: str) -> None:
        super().setup(device)
        try:
            import cdpam
        except ImportError as error:
            raise MpqError(
                f"the cdpam metric needs the cdpam package ({error}); install mpq-audio[cdpam]."
            ) from error
        with _trusted_cdpam_checkpoint(Path(cdpam.__file__).parent):
            self.model = cdpam.CDPAM(dev=device)

    def _pair(self, reference: Audio, decoded: Audio) -> float:
        if self.model is None:
            raise MpqError("call setup(device) before compute.")
        ref, dec = cdpam_input(reference), cdpam_input(decoded)
        with torch.inference_mode():
            dist = self.model.forward(torch.from_numpy(ref), torch.from_numpy(dec))
        return float(dist.flatten()[0].cpu())


def cdpam_input(audio: Audio) -> np.ndarray:
    """(1, samples) float32 int16-scale mono at 22.05 kHz, as `cdpam.load_audio` returns."""
    import librosa

    mono = audio.samples.astype(np.float32).mean(axis=0)
    if audio.sample_rate != CDPAM_RATE:
        mono = librosa.resample(mono, orig_sr=audio.sample_rate, target_sr=CDPAM_RATE)
    return np.round(mono.astype(np.float64) * INT16_SCALE).astype(np.float32)[None, :]


@contextlib.contextmanager
def _trusted_cdpam_checkpoint(package_dir: Path) -> Iterator[None]:
    """Let cdpam's own `torch.load` read its shipped checkpoint with weights_only=False.

    The checkpoint is an old-format pickle that torch >= 2.6's default weights_only=True
    unpickler rejects. Unpickling it fully is acceptable because the file is installed inside the
    pinned cdpam package itself (the same trust as importing that package's code); any other
    file passes through to torch.load unchanged, and torch.load is restored on exit.
    """
    original = torch.load
    shipped = (package_dir / "CDPAM_trained").resolve()

    def load(f: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(f, str | Path) and Path(f).resolve().parent == shipped:
            kwargs["weights_only"] = False
        return original(f, *args, **kwargs)

    torch.load = load
    try:
        yield
    finally:
        torch.load = original

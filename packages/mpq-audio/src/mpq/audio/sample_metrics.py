"""Audio metrics computed from the samples alone: SI-SDR and PSNR, in float64 numpy on the CPU.

They run beside the codec, in the codec workers (`Metric.beside_codec`): numpy alone, so that
they import no torch (seconds per process, paid again by every worker).
"""

from __future__ import annotations

import math

import numpy as np

from mpq.audio.audio_metric import AudioMetric
from mpq.audio.signal import Audio


class _SampleMetric(AudioMetric):
    """Computed in the codec worker, from numpy alone."""

    beside_codec = True
    libraries = ("mpq-audio", "numpy")


class SISDR(_SampleMetric):
    """Scale-invariant SDR (Le Roux et al. 2019) in dB, per channel, then the mean over channels.

    For reference s and estimate e of one channel (float64, no mean removal, as torchmetrics'
    default zero_mean=False): a = <e, s> / <s, s>, SI-SDR = 10 log10(|a s|^2 / |e - a s|^2).
    Identical channels give inf; a silent reference channel gives NaN (the ratio is undefined).
    """

    name = "si-sdr"
    higher_is_better = True
    input_range = (
        "float samples in [-1, 1] (scale-invariant: any common scale gives the same value)"
    )
    description = "SI-SDR in dB, mean over channels; inf for identical audio"

    def _pair(self, reference: Audio, decoded: Audio) -> float:
        return float(np.mean(si_sdr(reference.samples, decoded.samples)))


class AudioPSNR(_SampleMetric):
    """PSNR with peak 1.0 (float full scale): 10 log10(1 / MSE) over all channels and samples.

    MSE = mean of (decoded - reference)^2 over every channel and sample, in float64 on the
    float32 samples as they are (no clipping, no alignment). Identical audio gives inf.
    """

    name = "audio-psnr"
    higher_is_better = True
    input_range = "float samples in [-1, 1]; peak 1.0, MSE over all channels and samples"
    description = "PSNR in dB with peak 1.0; inf for identical audio"

    def _pair(self, reference: Audio, decoded: Audio) -> float:
        error = decoded.samples.astype(np.float64) - reference.samples.astype(np.float64)
        mse = float(np.mean(np.square(error)))
        return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """SI-SDR in dB of each row of (channels, samples) arrays; see `SISDR`."""
    s = reference.astype(np.float64)
    e = estimate.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sum(e * s, axis=-1, keepdims=True) / np.sum(s * s, axis=-1, keepdims=True)
        target = scale * s
        return 10.0 * np.log10(np.sum(target**2, axis=-1) / np.sum((e - target) ** 2, axis=-1))

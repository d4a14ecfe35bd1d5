"""Audio metrics against hand-computed values and independent implementations on real audio."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mpq.audio.sample_metrics import SISDR, AudioPSNR
from mpq.audio.signal import Audio, load_audio
from mpq.audio.torch_metrics import CDPAM, LogMelDistance, cdpam_input
from mpq.core.testing import heavy_imports_of

SAMPLES = Path("/usr/share/sonic-pi/samples")


def sample(name: str, seconds: float | None = None) -> Audio:
    """A CC0 recording from Debian's sonic-pi-samples, optionally cut to `seconds`."""
    path = SAMPLES / f"{name}.flac"
    if not path.is_file():
        pytest.skip(f"{path} is missing: install the Debian package sonic-pi-samples")
    audio = load_audio(path)
    if seconds is None:
        return audio
    return Audio(audio.samples[:, : int(seconds * audio.sample_rate)].copy(), audio.sample_rate)


def noisy(audio: Audio, level: float, seed: int = 0) -> Audio:
    noise = np.random.default_rng(seed).standard_normal(audio.shape) * level
    return Audio((audio.samples + noise).astype(np.float32), audio.sample_rate)


def sisdr_lstsq(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Independent SI-SDR: the optimal scale by least squares, mean of the channels' dB."""
    values = []
    for s, e in zip(reference.astype(np.float64), estimate.astype(np.float64), strict=True):
        scale = np.linalg.lstsq(s[:, None], e, rcond=None)[0][0]
        values.append(10 * np.log10(np.sum((scale * s) ** 2) / np.sum((e - scale * s) ** 2)))
    return float(np.mean(values))


def test_si_sdr_of_orthogonal_noise_at_a_known_snr_is_that_snr() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16000))
    values = []
    for snr in (0.0, 7.5, 30.0):
        noise = rng.standard_normal(x.shape)
        noise -= (np.sum(noise * x, axis=1) / np.sum(x * x, axis=1))[:, None] * x
        noise *= np.sqrt(np.sum(x**2, axis=1) / np.sum(noise**2, axis=1) / 10 ** (snr / 10))[
            :, None
        ]
        ref = Audio(x.astype(np.float32), 16000)
        est = Audio((x + noise).astype(np.float32), 16000)
        values.append(SISDR().compute([ref], [est])[0])
        assert values[-1] == pytest.approx(snr, abs=1e-3)
    scaled = Audio((3.0 * est.samples).astype(np.float32), 16000)
    assert SISDR().compute([ref], [scaled])[0] == pytest.approx(values[-1], abs=1e-6)


def test_si_sdr_matches_least_squares_reference_on_real_audio() -> None:
    ref = sample("loop_amen")
    pairs = [noisy(ref, 0.01), noisy(ref, 0.1, seed=2)]
    got = SISDR().compute([ref, ref], pairs)
    want = [sisdr_lstsq(ref.samples, p.samples) for p in pairs]
    assert got == pytest.approx(want, rel=1e-9)
    assert got[0] > got[1] + 15
    assert SISDR().compute([ref], [ref]) == [math.inf]


def test_psnr_by_hand_and_against_scikit_image() -> None:
    zeros = Audio(np.zeros((2, 1000), np.float32), 8000)
    tenth = Audio(np.full((2, 1000), 0.1, np.float32), 8000)
    half = np.zeros((2, 1000), np.float32)
    half[0] = 0.1  # MSE = 0.01 / 2 over both channels -> 10 log10(200)
    assert AudioPSNR().compute([zeros], [tenth])[0] == pytest.approx(20.0, abs=1e-5)
    assert AudioPSNR().compute([zeros], [Audio(half, 8000)])[0] == pytest.approx(
        10 * math.log10(200), abs=1e-5
    )
    ref = sample("bass_hit_c")
    dec = noisy(ref, 0.02)
    assert AudioPSNR().compute([ref], [ref]) == [math.inf]
    metrics = pytest.importorskip("skimage.metrics")
    want = metrics.peak_signal_noise_ratio(
        ref.samples.astype(np.float64), dec.samples.astype(np.float64), data_range=1.0
    )
    assert AudioPSNR().compute([ref], [dec])[0] == pytest.approx(want, rel=1e-12)


def test_log_mel_matches_librosa_and_is_zero_for_identical_audio() -> None:
    librosa = pytest.importorskip("librosa")
    ref = sample("ambi_piano", seconds=2.0)
    dec = noisy(ref, 0.01)

    def logmel(audio: Audio) -> np.ndarray:
        mel = librosa.feature.melspectrogram(
            y=audio.samples.astype(np.float64),
            sr=audio.sample_rate,
            n_fft=1024,
            hop_length=256,
            win_length=1024,
            window="hann",
            center=True,
            pad_mode="reflect",
            power=1.0,
            n_mels=80,
            fmin=0.0,
            fmax=audio.sample_rate / 2,
            htk=False,
            norm="slaney",
        )
        return np.log(np.maximum(mel, 1e-5))

    want = float(np.mean(np.abs(logmel(dec) - logmel(ref))))
    metric = LogMelDistance()
    got = metric.compute([ref, ref], [dec, ref])
    assert got[0] == pytest.approx(want, rel=1e-6)
    assert got[1] == 0.0
    assert metric.compute([ref], [noisy(ref, 0.1)])[0] > got[0]


def test_log_mel_does_not_depend_on_torchs_thread_count(librivox) -> None:
    """A codec worker runs torch on one thread, the sweep's process on every core; torch's own
    mean of these 48,000 values moved in the last bit between the two."""
    reference = Audio(librivox.samples[:, : 15 * 16000].copy(), 16000)
    decoded = noisy(reference, 0.003, seed=1)
    metric = LogMelDistance()
    threads = torch.get_num_threads()
    try:
        values = []
        for count in (1, 2):
            torch.set_num_threads(count)
            values.append(
                metric.compute([reference] * 3, [decoded, noisy(reference, 0.01), reference])
            )
    finally:
        torch.set_num_threads(threads)
    assert values[0] == values[1]


def test_resampling_does_not_depend_on_torchs_thread_count() -> None:
    """Two threads split the downsampling of a 10 ms clip differently from one (a codec
    worker's), which moved the same row's SI-SDR between --workers 2 and --workers 0."""
    from mpq.audio.signal import resample

    clip = np.random.default_rng(0).standard_normal((1, 480)).astype(np.float32)
    threads = torch.get_num_threads()
    try:
        values = []
        for count in (1, 2):
            torch.set_num_threads(count)
            values.append(resample(clip, 48000, 16000))
        assert torch.get_num_threads() == 2  # put back after resampling
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(values[0], values[1])


def test_metrics_refuse_other_inputs() -> None:
    audio = Audio(np.zeros((1, 2000), np.float32), 16000)
    for metric in (SISDR(), AudioPSNR(), LogMelDistance()):
        with pytest.raises(TypeError, match=r"expected mpq\.audio\.signal\.Audio"):
            metric.compute([audio.samples], [audio.samples])
        with pytest.raises(ValueError, match="pair 0"):
            metric.compute([audio], [Audio(np.zeros((2, 2000), np.float32), 16000)])
        with pytest.raises(ValueError, match="pair 0"):
            metric.compute([audio], [Audio(audio.samples, 8000)])


@pytest.mark.slow
def test_cdpam_with_its_shipped_weights_on_real_audio() -> None:
    pytest.importorskip("cdpam")
    librosa = pytest.importorskip("librosa")
    ref = sample("loop_amen", seconds=0.5)
    # cdpam.load_audio's own steps (it calls np.float, gone from numpy): librosa.load's mono
    # downmix and resampler, then int16 scale.
    mono = librosa.resample(ref.samples.mean(axis=0), orig_sr=ref.sample_rate, target_sr=22050)
    expected = np.float32(np.round(mono.astype(np.float64) * 32768))[None, :]
    np.testing.assert_array_equal(cdpam_input(ref), expected)

    original_load = torch.load
    metric = CDPAM()
    metric.setup("cpu")
    assert torch.load is original_load
    assert next(metric.model.model.parameters()).device.type == "cpu"
    degraded = [noisy(ref, 0.003), noisy(ref, 0.03), noisy(ref, 0.3)]
    values = metric.compute([ref] * 4, [ref, *degraded])
    assert abs(values[0]) < 1e-6
    assert 0 < values[1] < values[2] < values[3]
    with torch.inference_mode():
        direct = metric.model.forward(expected, cdpam_input(degraded[1]))
    assert values[2] == pytest.approx(float(direct.flatten()[0]), rel=1e-5)


def test_sample_metrics_load_no_heavy_library() -> None:
    """SI-SDR and PSNR run in codec workers, which must not spend seconds importing torch."""
    assert heavy_imports_of("mpq.audio.sample_metrics") == ["numpy"]

"""Real audio shared by the codec tests: LibriVox speech and a sonic-pi piano recording.

The Debian packages pocketsphinx-testdata and sonic-pi-samples provide them; a test that asks for
one skips, naming the package, when it is not installed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mpq.audio.signal import Audio

SPEECH_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")
MUSIC = Path("/usr/share/sonic-pi/samples/ambi_piano.flac")


@pytest.fixture(scope="session")
def librivox() -> Audio:
    """All five LibriVox clips, 24.7 s of 16 kHz mono read speech."""
    if not SPEECH_DIR.is_dir():
        pytest.skip("Debian package pocketsphinx-testdata is not installed")
    clips = [sf.read(path, dtype="float32")[0] for path in sorted(SPEECH_DIR.glob("*.wav"))]
    return Audio(np.concatenate(clips)[None], 16000)


@pytest.fixture(scope="session")
def librivox_3s(librivox: Audio) -> Audio:
    return Audio(librivox.samples[:, : 3 * 16000].copy(), 16000)


@pytest.fixture(scope="session")
def piano() -> Audio:
    """The first second of a stereo 44.1 kHz piano recording."""
    if not MUSIC.is_file():
        pytest.skip("Debian package sonic-pi-samples is not installed")
    samples, rate = sf.read(MUSIC, dtype="float32", frames=44100)
    return Audio(np.ascontiguousarray(samples.T), rate)


@pytest.fixture(scope="session")
def lag():
    """Lag in samples of the cross-correlation peak (positive: decoded is late)."""

    def lag_of(reference: np.ndarray, decoded: np.ndarray) -> int:
        n = reference.size
        spectrum = np.fft.rfft(decoded, 2 * n) * np.conj(np.fft.rfft(reference, 2 * n))
        peak = int(np.argmax(np.fft.irfft(spectrum)))
        return peak if peak < n else peak - 2 * n

    return lag_of

"""Source separation: SDR on constructed cases with known values, and a tiny Demucs sweep."""

from __future__ import annotations

import math
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from mpq.audio.signal import Audio
from mpq.audio.tasks.separation import (
    MUSDB_STEMS,
    SourceSeparation,
    framewise_sdr_medians,
    load_separator,
)
from mpq.core.aggregate import aggregate
from mpq.core.errors import MpqError
from mpq.core.task import Item

museval = pytest.importorskip("museval", reason="museval needs ffmpeg and ffprobe on PATH")
pytest.importorskip("demucs")

SAMPLES = Path("/usr/share/sonic-pi/samples")
RATE = 44100
STEM_SAMPLES = {
    "drums": "loop_amen",
    "bass": "bass_hit_c",
    "other": "ambi_piano",
    "vocals": "ambi_choir",
}

FACTORY_MODULE = '''
import torch
from demucs.demucs import Demucs

SOURCES = ["drums", "bass", "other", "vocals"]


def tiny():
    torch.manual_seed(0)
    return Demucs(sources=SOURCES, channels=4, samplerate=8000, segment=1.0)


class FirstIsMixture(torch.nn.Module):
    """Source 0 is the input, the others are silent; records each chunk's length."""

    sources = SOURCES
    samplerate = 44100
    audio_channels = 2
    segment = 10.0

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.lengths = []

    def forward(self, mix):
        self.lengths.append(mix.shape[-1])
        out = torch.zeros(mix.shape[0], 4, *mix.shape[1:])
        out[:, 0] = mix * self.scale
        return out


def first_is_mixture():
    return FirstIsMixture()
'''


def stereo(name: str, seconds: float, offset: int = 0) -> np.ndarray:
    """(2, samples) float32 of a sonic-pi sample at 44.1 kHz, looped to `seconds`."""
    import soundfile

    path = SAMPLES / f"{name}.flac"
    if not path.is_file():
        pytest.skip(f"{path} is missing: install the Debian package sonic-pi-samples")
    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == RATE
    data = np.tile(data.T, (1, 1 + int(seconds * RATE) // data.shape[0] + 1))
    data = np.roll(data, offset, axis=1)[:, : int(seconds * RATE)]
    return np.ascontiguousarray(np.broadcast_to(data, (2, data.shape[1])), dtype=np.float32)


def with_sdr(target: np.ndarray, sdr_db: float, seed: int, silent_first_s: float = 0) -> np.ndarray:
    """target + white noise scaled per 1 s frame so that each frame's SDR is `sdr_db`."""
    noise = np.random.default_rng(seed).standard_normal(target.shape)
    for start in range(int(silent_first_s * RATE), target.shape[1], RATE):
        frame = slice(start, start + RATE)
        ratio = np.sum(target[:, frame] ** 2) / np.sum(noise[:, frame] ** 2)
        noise[:, frame] *= np.sqrt(ratio / 10 ** (sdr_db / 10))
    return (target + noise).astype(np.float32)


@pytest.fixture
def factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "tiny_separators.py").write_text(FACTORY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "tiny_separators"


@pytest.fixture
def musdb(tmp_path: Path) -> Path:
    """Three 2 s tracks in MUSDB18-HQ layout, mixtures the exact sums of their stems."""
    import soundfile

    root = tmp_path / "musdb"
    for t, offset in enumerate((0, 20000, 45000)):
        folder = root / "test" / f"track {t}"
        folder.mkdir(parents=True)
        stems = {
            s: 0.5 * stereo(name, 2.0, offset * (i + 1))
            for i, (s, name) in enumerate(STEM_SAMPLES.items())
        }
        for stem, data in stems.items():
            soundfile.write(folder / f"{stem}.wav", data.T, RATE, subtype="FLOAT")
        mixture = np.sum(list(stems.values()), axis=0)
        soundfile.write(folder / "mixture.wav", mixture.T, RATE, subtype="FLOAT")
    return root


def test_museval_sdr_of_a_constructed_estimate_is_the_energy_ratio() -> None:
    drums, bass = stereo("loop_amen", 4.0), stereo("bass_hit_c", 4.0)
    bass[:, :RATE] = 0.0  # a silent first second: a NaN frame, ignored by the median
    estimates = [with_sdr(drums, 10.0, seed=1), with_sdr(bass, 20.0, seed=2, silent_first_s=1)]
    medians = framewise_sdr_medians([drums, bass], estimates, RATE)
    assert medians == pytest.approx([10.0, 20.0], abs=0.15)
    # Evaluating each stem alone gives museval's joint evaluation of all stems.
    joint, _, _, _ = museval.evaluate(
        np.stack([drums.T, bass.T]).astype(np.float64),
        np.stack([e.T for e in estimates]).astype(np.float64),
        win=RATE,
        hop=RATE,
    )
    assert medians == pytest.approx([np.nanmedian(f) for f in joint], abs=1e-6)


def test_score_reports_known_sdr_per_stem_and_agreement() -> None:
    stems = {s: Audio(stereo(name, 3.0), RATE) for s, name in STEM_SAMPLES.items()}
    known = {"drums": 5.0, "bass": 10.0, "other": 15.0, "vocals": 20.0}
    prediction = {
        s: with_sdr(stems[s].samples, db, seed=i) for i, (s, db) in enumerate(known.items())
    }
    mixture = Audio(np.sum([a.samples for a in stems.values()], axis=0), RATE)
    task = SourceSeparation(model="unused", dataset=[])
    stats = task.score(Item("t", mixture, stems), prediction, prediction)
    for stem, db in known.items():
        assert stats[f"sdr_{stem}"] == pytest.approx(db, abs=0.15)
    assert stats["sdr"] == pytest.approx(12.5, abs=0.15)
    # White noise is nearly orthogonal to the target: SI-SDR is close to the SNR.
    assert stats["si_sdr"] == pytest.approx(12.5, abs=0.2)
    assert stats["sdr_vs_reference"] == math.inf
    reference = {s: with_sdr(p, 15.0, seed=9) for s, p in prediction.items()}
    stats = task.score(Item("t", mixture, stems), prediction, reference)
    # The reference run's stems hold the noise too: SDR = 10 log10(10^1.5 + 1) per frame.
    assert stats["sdr_vs_reference"] == pytest.approx(10 * math.log10(10**1.5 + 1), abs=0.15)


def test_chunked_separation_keeps_rate_length_and_channels(factory: str) -> None:
    task = SourceSeparation(model=f"python:{factory}:first_is_mixture", dataset=[], segment="0.5")
    task.setup("cpu", False)
    mixture = Audio(stereo("loop_amen", 1.7) * 0.5, RATE)
    (stems,) = task.predict([mixture])
    assert set(stems) == set(MUSDB_STEMS)
    assert all(s.shape == mixture.shape and s.dtype == np.float32 for s in stems.values())
    # 1.7 s in 0.5 s chunks with a quarter overlap: a stride of 16537 samples, 5 chunks.
    assert task.model.lengths == [RATE // 2] * 4 + [int(1.7 * RATE) - 4 * 16537]
    np.testing.assert_allclose(stems["drums"], mixture.samples, atol=1e-5)
    mean = mixture.samples.mean()
    np.testing.assert_allclose(stems["bass"], mean, atol=1e-6)

    mono = Audio(mixture.samples[:1, : RATE // 2].copy(), 16000)
    (stems,) = task.predict([mono])
    assert all(s.shape == mono.shape for s in stems.values())
    # Mono is duplicated to stereo and averaged back; 16 kHz -> 44.1 kHz -> 16 kHz loses only
    # the band edge.
    error = stems["drums"].astype(np.float64) - mono.samples
    assert 10 * np.log10(np.sum(mono.samples.astype(np.float64) ** 2) / np.sum(error**2)) > 40


@pytest.mark.slow
def test_sweep_of_a_tiny_demucs_over_a_musdb_folder(
    factory: str, musdb: Path, tmp_path: Path
) -> None:
    from mpq.core.codec import parse_codec_spec
    from mpq.core.engine import SweepConfig, run_sweep
    from mpq.core.store import read_run
    from mpq.core.summary import summarize

    try:
        import mpq.audio.codecs.ffmpeg  # noqa: F401

        settings = parse_codec_spec("mp3:bitrate=64000")
    except Exception:
        settings = []
    task = SourceSeparation(
        model=f"python:{factory}:tiny",
        dataset=f"musdb:{musdb}",
        split="test",
        segment="0.5",
        overlap="0.25",
        shifts="0",
    )
    config = SweepConfig(
        settings=settings,
        metrics=["si-sdr"],
        workers=0,
        batch_size=2,
        device="cpu",
        cache_dir=None,
        progress=False,
    )
    summary = run_sweep(task, tmp_path / "run", config)
    manifest, table = read_run(tmp_path / "run")
    rows = table.to_pylist()
    assert summary.failed == 0, [r["error"] for r in rows if r["status"] != "ok"]
    assert len(rows) == 3 * (1 + len(settings))
    reference = sorted((r for r in rows if r["setting"] == "none"), key=lambda r: r["item_id"])
    assert [r["item_id"] for r in reference] == ["track 0", "track 1", "track 2"]
    for row in reference:
        per_stem = [row[f"stat.sdr_{s}"] for s in MUSDB_STEMS]
        assert all(np.isfinite(per_stem))
        assert row["stat.sdr"] == pytest.approx(np.mean(per_stem))
        assert np.isfinite(row["stat.si_sdr"])
        assert row["stat.sdr_vs_reference"] == math.inf
    sdr = [r["stat.sdr"] for r in reference]
    assert manifest["scores"]["sdr"]["aggregator"] == "median"
    (ref_summary, *_) = summarize(manifest, table, resamples=200)
    assert ref_summary.setting == "none"
    assert ref_summary.scores["sdr"].value == pytest.approx(np.median(sdr))
    assert ref_summary.scores["sdr_mean"].value == pytest.approx(np.mean(sdr))
    assert aggregate("median", [sdr], resamples=0).value == pytest.approx(np.median(sdr))
    for row in rows:
        if row["setting"] != "none":
            assert np.isfinite(row["stat.sdr_vs_reference"])
            assert np.isfinite(row["metric.si-sdr"])


def test_pickled_checkpoints_need_trust(tmp_path: Path) -> None:
    from demucs.demucs import Demucs

    model = Demucs(sources=list(MUSDB_STEMS), channels=4)
    path = tmp_path / "tiny.th"
    torch.save(
        {
            "klass": Demucs,
            "args": (),
            "kwargs": {"sources": list(MUSDB_STEMS), "channels": 4},
            "state": model.state_dict(),
        },
        path,
    )
    with pytest.raises(MpqError, match="trust_remote_code"):
        load_separator(str(path))
    loaded = load_separator(str(path), trust_remote_code=True)
    assert loaded.sources == list(MUSDB_STEMS)
    torch.testing.assert_close(loaded.state_dict(), model.state_dict())


def test_pretrained_name_without_network_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    def no_network(*args: object, **kwargs: object) -> None:
        raise socket.gaierror("network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    task = SourceSeparation(model="hdemucs_mmi", dataset=[])
    with pytest.raises(MpqError, match="cannot load demucs pretrained model 'hdemucs_mmi'"):
        task.setup("cpu", False)


def test_bad_options_are_refused() -> None:
    with pytest.raises(MpqError, match="musdb:PATH"):
        SourceSeparation(model="htdemucs", dataset="/some/folder")
    with pytest.raises(MpqError, match="overlap"):
        SourceSeparation(model="htdemucs", dataset=[], overlap="1.5")
    with pytest.raises(MpqError, match="trust_remote_code"):
        SourceSeparation(model="htdemucs", dataset=[], trust_remote_code="maybe")

"""Audio datasets as researchers have them: the Common Voice mirror on the hub (through the real
`datasets.load_dataset` on a local replica of its layout), a Common Voice release folder,
transcripts beside clips, and audiofolder metadata that must not leave the dataset."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from mpq.audio.cli import PRESETS, main
from mpq.audio.datasets import open_audio_dataset
from mpq.audio.tasks.separation import SourceSeparation, framewise_sdr_medians
from mpq.core import presets
from mpq.core.dataspec import parse_dataset_spec, parse_split
from mpq.core.errors import MpqError
from mpq.core.hubreplica import replicas

RATE = 16000
FREQS = (300.0, 400.0, 500.0)
# Common Voice 11's TSV columns, as Mozilla's release has them.
CV_COLUMNS = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender"]
CV_COLUMNS += ["accents", "locale", "segment"]


def tone(seconds: float = 0.25, rate: int = RATE, frequency: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_cv17_preset_reads_the_hub_mirror_layout(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hub" / "main" / "fixie-ai" / "common_voice_17_0"
    # The mirror declares one config per language in its README, split folders below it.
    repo.mkdir(parents=True)
    (repo / "README.md").write_text(
        "---\nconfigs:\n- config_name: en\n  data_files:\n  - split: validation\n"
        "    path: en/validation/*.parquet\n  - split: test\n    path: en/test/*.parquet\n---\n"
    )
    features = datasets.Features(
        {
            "client_id": datasets.Value("string"),
            "path": datasets.Value("string"),
            "audio": datasets.Audio(sampling_rate=48000),
            "sentence": datasets.Value("string"),
        }
    )
    for split in ("validation", "test"):
        columns = {
            "client_id": ["c0", "c1", "c2"],
            "path": [f"common_voice_en_{i}.mp3" for i in range(3)],
            "audio": [{"bytes": wav_bytes(tone(frequency=f)), "path": None} for f in FREQS],
            "sentence": [f"{split} sentence {i}" for i in range(3)],
        }
        # Written in Arrow's storage form: datasets needs torchcodec to encode Audio itself.
        (repo / "en" / split).mkdir(parents=True)
        table = pa.Table.from_pydict(columns, schema=features.arrow_schema)
        pq.write_table(table, repo / "en" / split / "0000.parquet")
    values = presets.load("cv17-whisper", PRESETS)
    with replicas(tmp_path / "hub") as calls:
        data = open_audio_dataset(values["dataset"], "validation[1:]")
        examples = list(data)
    assert [e.id for e in examples] == ["00000001", "00000002"]
    assert [e.text for e in examples] == ["validation sentence 1", "validation sentence 2"]
    assert examples[0].audio.sample_rate == RATE and examples[0].audio.length == RATE // 4
    assert calls[0]["name"] == "en" and calls[0]["streaming"] is True


def common_voice_folder(root: Path, rows: int = 5) -> Path:
    language = root / "cv-corpus-11.0-2022-09-21" / "en"
    (language / "clips").mkdir(parents=True)
    lines = ["\t".join(CV_COLUMNS)]
    for i in range(rows):
        name = f"common_voice_en_{100 + i}.mp3"
        (language / "clips" / name).write_bytes(wav_bytes(tone(frequency=200 + 50 * i)))
        # Quotes are text in Common Voice's TSVs, never CSV quoting.
        sentence = f'"Clip" number {i}' if i == 0 else f"clip number {i}"
        lines.append("\t".join([f"id{i}", name, sentence, "2", "0", "", "", "", "en", ""]))
    (language / "dev.tsv").write_text("\n".join(lines) + "\n")
    (language / "test.tsv").write_text("\n".join(lines[:2]) + "\n")
    return language


def test_a_common_voice_release_folder_reads_dev_tsv_for_validation(tmp_path):
    language = common_voice_folder(tmp_path)
    data = open_audio_dataset(f"commonvoice:{language}:exclude=1", "validation[:4]")
    examples = list(data)
    assert [e.id for e in examples] == [f"common_voice_en_{100 + i}.mp3" for i in (0, 2, 3)]
    assert examples[0].text == '"Clip" number 0' and examples[0].error is None
    assert examples[0].audio.length == RATE // 4 and data.count() == 3
    assert [e.id for e in open_audio_dataset(f"commonvoice:{language}", "test")] == [
        "common_voice_en_100.mp3"
    ]
    with pytest.raises(Exception, match="give the language folder"):
        open_audio_dataset(f"commonvoice:{language.parent}", "validation")
    with pytest.raises(MpqError, match=r"no folder .*nowhere.* download the release from Mozilla"):
        open_audio_dataset(f"commonvoice:{tmp_path / 'nowhere'}", "validation")


def test_the_cv11_preset_names_the_seed_slice():
    values = presets.load("cv11-whisper", PRESETS)
    spec = parse_dataset_spec(values["dataset"])
    assert spec.local("commonvoice") == "cv-corpus-11.0-2022-09-21/en"
    assert spec.excluded == [362, 711]
    split = parse_split(values["split"])
    kept = [i for i in split.indices(16000) if i not in spec.excluded]
    assert len(kept) == 800 and kept[-1] == 801


def test_transcripts_beside_clips_are_read(tmp_path):
    for name in ("clip", "aligned", "tts"):
        sf.write(tmp_path / f"{name}.wav", tone(), RATE)
    (tmp_path / "clip.txt").write_text("Hello  there\n")
    (tmp_path / "aligned.lab").write_text("an aligned label")
    (tmp_path / "tts.normalized.txt").write_text("normalised text")
    (tmp_path / "tts.original.txt").write_text("Original Text!")
    sf.write(tmp_path / "silent.wav", tone(), RATE)
    texts = {e.id: e.text for e in open_audio_dataset(str(tmp_path))}
    assert texts == {
        "clip.wav": "Hello there",
        "aligned.wav": "an aligned label",
        "tts.wav": "normalised text",
        "silent.wav": None,
    }


def test_audiofolder_metadata_cannot_leave_the_dataset(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    sf.write(outside / "secret.wav", tone(), RATE)
    root = tmp_path / "data"
    root.mkdir()
    sf.write(root / "good.wav", tone(), RATE)
    (root / "metadata.csv").write_text(
        "file_name,transcription\ngood.wav,fine\n../outside/secret.wav,leak\n"
        f"{outside / 'secret.wav'},leak too\n"
    )
    examples = list(open_audio_dataset(f"audiofolder:{root}"))
    assert examples[0].error is None and examples[0].text == "fine"
    assert [e.audio for e in examples[1:]] == [None, None]
    assert all("outside the dataset folder" in e.error for e in examples[1:])


def test_every_shipped_audio_preset_parses_offline():
    shipped = presets.validate(PRESETS, main.commands["run"])
    assert {"cv11-whisper", "cv17-whisper", "musdb-demucs", "paper", "demo"} <= set(shipped)


def test_musdb_preset_windows_sdr_as_the_seed_did(tmp_path):
    values = presets.load("musdb-demucs", PRESETS)
    assert values["model"] == "htdemucs"
    options = dict(option.split("=") for option in values["task_options"])
    task = SourceSeparation(model=values["model"], dataset=f"musdb:{tmp_path}", **options)
    assert (task.sdr_window, task.sdr_hop) == (2.0, 1.5)
    assert task.describe()["sdr_hop_s"] == 1.5
    with pytest.raises(Exception, match="sdr_hop='0' is out of range"):
        SourceSeparation(dataset=f"musdb:{tmp_path}", sdr_hop="0")


def test_sdr_frames_follow_window_and_hop():
    pytest.importorskip("museval")
    rng = np.random.default_rng(0)
    rate = 8000
    reference = rng.normal(size=(1, 6 * rate))
    estimate = reference + 0.1 * rng.normal(size=reference.shape)
    one = framewise_sdr_medians([reference], [estimate], rate)
    seed = framewise_sdr_medians([reference], [estimate], rate, 2.0, 1.5)
    assert abs(one[0] - 20.0) < 1.0 and abs(seed[0] - 20.0) < 1.0 and one != seed

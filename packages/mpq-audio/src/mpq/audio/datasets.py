"""Speech datasets as streams of examples (audio and transcript), whatever their source.

Sources (the `--dataset` spec):

- a Hugging Face hub id (``ID@CONFIG``), e.g. ``librispeech_asr@clean`` or
  ``mozilla-foundation/common_voice_11_0@en`` (transcripts in "sentence"), read with
  `datasets.load_dataset`; audio is decoded here with PyAV from the stored bytes, so no
  torchcodec is needed;
- ``audiofolder:PATH``: audio files listed in ``metadata.csv`` (or ``metadata.jsonl``) files with
  a ``file_name`` column, relative to the metadata file, and a transcript column (``text_key``, or
  the first of transcription, text, sentence, transcript), as Hugging Face's audiofolder reads them;
- a plain folder (or ``folder:PATH``) of audio files. Transcripts, when there are any, are read
  from every transcript file under it: ``transcription`` or ``*.transcription`` files in the
  Sphinx format (``<s> TEXT </s> (ID)`` per line), and ``*.trans.txt`` or ``*.tsv`` files with
  ``ID TEXT`` (or ``ID<TAB>TEXT``) per line, as LibriSpeech ships them. An ID is a file's path
  relative to the transcript file's folder without its suffix, or its bare file name stem;
- ``pocketsphinx``: the five LibriVox clips (Sense and Sensibility, 16 kHz mono WAV, with their
  transcripts) that Debian's pocketsphinx-testdata package installs, for offline demos and tests.

``.raw`` files are read as Sphinx's headerless 16 kHz 16-bit little-endian mono PCM. A file that
cannot be read becomes an example with `error` set, so the sweep records a failed row and goes on.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mpq.audio.signal import Audio, load_audio
from mpq.core.errors import MpqError

POCKETSPHINX_CLIPS = Path("/usr/share/pocketsphinx/test/data/librivox")
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".webm", ".raw"}
RAW_SAMPLE_RATE = 16000
TEXT_COLUMNS = ("transcription", "text", "sentence", "transcript", "normalized_text")
SPHINX_LINE = re.compile(r"^(?P<text>.*?)\s*\((?P<id>[^()]+)\)\s*$")
SPHINX_MARKERS = re.compile(r"</?s>|<sil>")


@dataclass
class AudioExample:
    """One item: an id unique in the dataset, its audio, its transcript (None: unlabelled)."""

    id: str
    audio: Audio | None
    text: str | None = None
    error: str | None = None


class AudioDataset(Protocol):
    """What the speech task reads."""

    name: str

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[AudioExample]: ...


@dataclass
class FileDataset:
    """Audio files with optional transcripts; each file is read when iterated."""

    name: str
    files: list[Path]
    ids: list[str]
    texts: list[str | None]

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[AudioExample]:
        for path, item_id, text in zip(self.files, self.ids, self.texts, strict=True):
            try:
                yield AudioExample(item_id, read_audio_file(path), text)
            except MpqError as error:
                yield AudioExample(item_id, None, text, str(error))


class HubDataset:
    """A Hugging Face dataset split; the audio and transcript columns are found or named."""

    def __init__(
        self,
        hub_id: str,
        split: str,
        audio_key: str | None = None,
        text_key: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        import datasets

        repo, _, config = hub_id.partition("@")
        # Only asked for when wanted: recent datasets releases reject the argument.
        options = {"trust_remote_code": True} if trust_remote_code else {}
        try:
            data = datasets.load_dataset(repo, config or None, split=split, **options)
        except Exception as error:
            raise MpqError(
                f"cannot load dataset {hub_id!r} split {split!r} ({type(error).__name__}: {error})."
                " Without network access use a local copy: --dataset audiofolder:PATH, a folder of"
                " audio files with a transcript file, or a dataset already in the Hugging Face"
                " cache (HF_DATASETS_OFFLINE=1)."
            ) from error
        self.name = hub_id
        features = data.features
        self.audio_key = audio_key or _find_audio_column(features, hub_id)
        self.text_key = text_key or next((c for c in TEXT_COLUMNS if c in features), None)
        if self.text_key is not None and self.text_key not in features:
            raise MpqError(f"dataset {hub_id!r} has no column {self.text_key!r}.")
        if type(features[self.audio_key]).__name__ == "Audio":
            # Raw bytes, decoded here with PyAV: the datasets decoder needs torchcodec.
            data = data.cast_column(self.audio_key, datasets.Audio(decode=False))
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[AudioExample]:
        for index, row in enumerate(self.data):
            text = row.get(self.text_key) if self.text_key else None
            item_id = f"{index:08d}"
            try:
                yield AudioExample(item_id, _decode_cell(row[self.audio_key]), text)
            except Exception as error:  # an unreadable clip: a failed item
                yield AudioExample(item_id, None, text, f"{type(error).__name__}: {error}")


def open_audio_dataset(
    spec: str,
    split: str = "validation",
    audio_key: str | None = None,
    text_key: str | None = None,
    trust_remote_code: bool = False,
) -> AudioDataset:
    """The dataset a `--dataset` spec names (see the module docstring)."""
    spec = str(spec)
    if spec == "pocketsphinx":
        if not POCKETSPHINX_CLIPS.is_dir():
            raise MpqError(
                f"dataset 'pocketsphinx': {POCKETSPHINX_CLIPS} is missing; install the Debian"
                " package pocketsphinx-testdata (apt-get install pocketsphinx-testdata)."
            )
        return _folder(POCKETSPHINX_CLIPS, "pocketsphinx")
    if spec.startswith("audiofolder:"):
        return _audio_folder(Path(spec.split(":", 1)[1]), text_key)
    if spec.startswith("folder:"):
        return _folder(Path(spec.split(":", 1)[1]), spec)
    if Path(spec).exists():
        return _folder(Path(spec), spec)
    return HubDataset(spec, split, audio_key, text_key, trust_remote_code)


def read_audio_file(path: Path) -> Audio:
    """A clip as `Audio`; ``.raw`` is Sphinx's headerless 16 kHz 16-bit mono PCM."""
    if path.suffix.lower() != ".raw":
        audio = load_audio(path)
    else:
        data = path.read_bytes()
        if not data or len(data) % 2:
            raise MpqError(f"{path}: {len(data)} bytes is not 16-bit PCM audio.")
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        audio = Audio(samples[None, :], RAW_SAMPLE_RATE)
    if audio.length == 0:
        raise MpqError(f"{path}: the clip has no samples.")
    return audio


def read_transcripts(path: Path) -> dict[str, str]:
    """Transcripts by utterance id from a Sphinx ``.transcription`` or an ``ID TEXT`` file."""
    sphinx = path.name == "transcription" or path.suffix == ".transcription"
    texts: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        if sphinx:
            match = SPHINX_LINE.match(line)
            if match is None:
                raise MpqError(f"{path}:{number}: expected 'TEXT (ID)', got {line!r}.")
            item_id, text = match["id"].strip(), SPHINX_MARKERS.sub(" ", match["text"])
        else:
            item_id, _, text = line.strip().partition("\t" if "\t" in line else " ")
        texts[item_id] = " ".join(text.split())
    return texts


def _folder(root: Path, name: str) -> FileDataset:
    """Audio files under `root` (or the one file), with transcripts from its transcript files."""
    if root.is_file():
        return FileDataset(name, [root], [root.name], [None])
    if not root.is_dir():
        raise MpqError(f"dataset {name!r}: {root} is not a folder or an audio file.")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise MpqError(f"dataset {name!r}: no audio files ({', '.join(sorted(AUDIO_SUFFIXES))})")
    by_key: dict[str, str] = {}
    for transcript in sorted(p for p in root.rglob("*") if p.is_file() and _is_transcript(p)):
        folder = transcript.parent.relative_to(root)
        for item_id, text in read_transcripts(transcript).items():
            key = (folder / item_id).as_posix()
            if by_key.get(key, text) != text:
                raise MpqError(f"{transcript}: utterance {item_id!r} has two different texts.")
            by_key[key] = text
    ids = [f.relative_to(root).as_posix() for f in files]
    texts = [
        by_key.get(str(Path(item_id).with_suffix("").as_posix()), by_key.get(file.stem))
        for item_id, file in zip(ids, files, strict=True)
    ]
    return FileDataset(name, files, ids, texts)


def _is_transcript(path: Path) -> bool:
    name = path.name
    return name == "transcription" or name.endswith((".transcription", ".trans.txt", ".tsv"))


def _audio_folder(root: Path, text_key: str | None) -> FileDataset:
    """Hugging Face's audiofolder layout: metadata files name each clip and its transcript."""
    if not root.is_dir():
        raise MpqError(f"audiofolder:{root}: no such folder.")
    rows: list[tuple[Path, dict[str, Any]]] = []
    for metadata in sorted(root.rglob("metadata.csv")) + sorted(root.rglob("metadata.jsonl")):
        with metadata.open(encoding="utf-8", newline="") as handle:
            records = (
                list(csv.DictReader(handle))
                if metadata.suffix == ".csv"
                else [json.loads(line) for line in handle if line.strip()]
            )
        rows += [(metadata.parent, record) for record in records]
    if not rows:
        raise MpqError(f"audiofolder:{root} has no metadata.csv or metadata.jsonl rows.")
    columns = set().union(*(record for _, record in rows))
    if "file_name" not in columns:
        raise MpqError(f"audiofolder:{root}: the metadata has no file_name column.")
    key = text_key or next((c for c in TEXT_COLUMNS if c in columns), None)
    if key is not None and key not in columns:
        raise MpqError(f"audiofolder:{root}: the metadata has no column {key!r}.")
    files = [folder / record["file_name"] for folder, record in rows]
    ids = [os.path.relpath(f, root).replace(os.sep, "/") for f in files]
    texts = [record.get(key) if key else None for _, record in rows]
    return FileDataset(f"audiofolder:{root}", files, ids, texts)


def _find_audio_column(features: Any, hub_id: str) -> str:
    for name, feature in features.items():
        if type(feature).__name__ == "Audio":
            return name
    raise MpqError(f"dataset {hub_id!r} has no Audio column; name it with audio_key.")


def _decode_cell(cell: Any) -> Audio:
    """A hub audio cell: undecoded bytes or path, or an already decoded array."""
    if isinstance(cell, dict) and cell.get("array") is not None:
        samples = np.asarray(cell["array"], dtype=np.float32)
        samples = samples[None, :] if samples.ndim == 1 else samples
        audio = Audio(np.ascontiguousarray(samples), int(cell["sampling_rate"]))
    elif isinstance(cell, dict) and cell.get("bytes"):
        suffix = Path(cell.get("path") or "").suffix
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"clip{suffix}"
            path.write_bytes(cell["bytes"])
            audio = load_audio(path)
    elif isinstance(cell, dict) and cell.get("path"):
        audio = load_audio(cell["path"])
    else:
        raise MpqError("the audio cell holds no array, bytes or path.")
    if audio.length == 0:
        raise MpqError("the clip has no samples.")
    return audio

"""Speech datasets as streams of examples (audio and transcript), whatever their source.

Sources (the `--dataset` spec):

- a Hugging Face hub id with the options of `mpq.core.dataspec` (``REPO[@CONFIG][:KEY=VALUE]``:
  revision, data_dir, data_files, streaming, exclude), e.g. ``fixie-ai/common_voice_17_0@en``
  (transcripts in "sentence"), read with `datasets.load_dataset` (streamed by default); audio is
  decoded here with PyAV from the stored bytes, so no torchcodec is needed; items are numbered
  by their index in the split;
- ``commonvoice:PATH``: a Common Voice release's language folder as Mozilla distributes it
  (``cv-corpus-11.0-2022-09-21/en``: ``dev.tsv``, ``test.tsv``, ... with ``path`` and
  ``sentence`` columns, and ``clips/``); ``--split validation`` reads ``dev.tsv``;
- ``audiofolder:PATH``: audio files listed in ``metadata.csv`` (or ``metadata.jsonl``) files with
  a ``file_name`` column, relative to the metadata file, and a transcript column (``text_key``, or
  the first of transcription, text, sentence, transcript), as Hugging Face's audiofolder reads them;
  a ``file_name`` that is absolute or climbs out with ``..`` makes a failed item;
- a plain folder (or ``folder:PATH``) of audio files. Transcripts, when there are any, are read
  from every transcript file under it: ``transcription`` or ``*.transcription`` files in the
  Sphinx format (``<s> TEXT </s> (ID)`` per line), and ``*.trans.txt`` or ``*.tsv`` files with
  ``ID TEXT`` (or ``ID<TAB>TEXT``) per line, as LibriSpeech ships them. An ID is a file's path
  relative to the transcript file's folder without its suffix, or its bare file name stem. A clip
  without one takes the text of a file beside it: ``NAME.normalized.txt`` (LibriTTS),
  ``NAME.txt`` or ``NAME.lab``;
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

from mpq.audio.compress import AUDIO_SUFFIXES
from mpq.audio.signal import Audio, load_audio
from mpq.core.dataspec import DatasetSpec, HubSplit, parse_dataset_spec, parse_split
from mpq.core.errors import MpqError
from mpq.core.files import list_files

POCKETSPHINX_CLIPS = Path("/usr/share/pocketsphinx/test/data/librivox")
RAW_SAMPLE_RATE = 16000
TEXT_COLUMNS = ("transcription", "text", "sentence", "transcript", "normalized_text")
# Transcripts in a file beside each clip: plain text, HTK/MFA labels, LibriTTS's normalised text.
BESIDE_SUFFIXES = (".normalized.txt", ".txt", ".lab")
# The hub loader's split names for Common Voice's TSV files.
COMMON_VOICE_SPLITS = {"validation": "dev"}
LOCAL_FORMS = (
    "--dataset commonvoice:PATH (a Common Voice language folder), audiofolder:PATH (metadata.csv)"
    " or a folder of audio files with transcripts"
)
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

    def count(self) -> int | None:
        """How many items iterating yields (None when unknown, e.g. a streamed split)."""

    def __iter__(self) -> Iterator[AudioExample]: ...


@dataclass
class FileDataset:
    """Audio files with optional transcripts; each file is read when iterated.

    `errors` holds, per file, why it is not read (a metadata path outside the dataset), or None.
    """

    name: str
    files: list[Path]
    ids: list[str]
    texts: list[str | None]
    errors: list[str | None] | None = None

    def __len__(self) -> int:
        return len(self.files)

    def count(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[AudioExample]:
        errors = self.errors or [None] * len(self.files)
        for path, item_id, text, refused in zip(
            self.files, self.ids, self.texts, errors, strict=True
        ):
            if refused is not None:
                yield AudioExample(item_id, None, text, refused)
                continue
            try:
                yield AudioExample(item_id, read_audio_file(path), text)
            except MpqError as error:
                yield AudioExample(item_id, None, text, str(error))


class HubDataset:
    """A Hugging Face dataset split; the audio and transcript columns are found or named."""

    def __init__(
        self,
        spec: DatasetSpec,
        split: str,
        audio_key: str | None = None,
        text_key: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        import datasets

        self.rows = HubSplit(spec, split, LOCAL_FORMS, trust_remote_code)
        self.name = str(spec)
        features = self.rows.features
        self.audio_key = audio_key or _find_audio_column(features, self.name)
        self.text_key = text_key or next((c for c in TEXT_COLUMNS if c in features), None)
        for key in (self.audio_key, self.text_key):
            if key is not None and key not in features:
                raise MpqError(
                    f"dataset {self.name!r} has no column {key!r}; it has {', '.join(features)}."
                )
        if type(features[self.audio_key]).__name__ == "Audio":
            # Raw bytes, decoded here with PyAV: the datasets decoder needs torchcodec.
            self.rows.cast_column(self.audio_key, datasets.Audio(decode=False))

    def count(self) -> int | None:
        return self.rows.count()

    def __iter__(self) -> Iterator[AudioExample]:
        for index, row in self.rows:
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
    parsed = parse_dataset_spec(spec)
    if parsed.source == "pocketsphinx":
        parsed.refuse_options("the pocketsphinx clips")
        if not POCKETSPHINX_CLIPS.is_dir():
            raise MpqError(
                f"dataset 'pocketsphinx': {POCKETSPHINX_CLIPS} is missing; install the Debian"
                " package pocketsphinx-testdata (apt-get install pocketsphinx-testdata)."
            )
        return _folder(POCKETSPHINX_CLIPS, "pocketsphinx")
    voice = parsed.local("commonvoice")
    if voice is not None:
        parsed.refuse_options("a Common Voice folder", allowed=("exclude",))
        return common_voice(Path(voice), split, parsed)
    metadata_folder = parsed.local("audiofolder")
    if metadata_folder is not None:
        parsed.refuse_options("an audiofolder")
        return _audio_folder(Path(metadata_folder), text_key)
    folder = parsed.local("folder")
    if folder is not None or Path(parsed.source).exists():
        parsed.refuse_options("a local folder")
        return _folder(Path(parsed.source if folder is None else folder), str(parsed))
    return HubDataset(parsed, split, audio_key, text_key, trust_remote_code)


def common_voice(root: Path, split: str, spec: DatasetSpec) -> FileDataset:
    """A Common Voice release's language folder: SPLIT.tsv (path, sentence) and clips/.

    ``--split validation`` reads ``dev.tsv`` (the hub loader's name for it); other splits read
    the TSV of their own name (test, train, validated, other, invalidated). A slice and
    ``exclude=`` count rows of that TSV; item ids are the clips' file names.
    """
    split_spec = parse_split(split)
    if not root.is_dir():
        raise MpqError(
            f"dataset {str(spec)!r}: no folder {root} (from {Path.cwd()}). Common Voice is not on"
            " the Hugging Face hub any more: download the release from Mozilla's Common Voice"
            " site, unpack it, and give its language folder: --dataset"
            " commonvoice:PATH/cv-corpus-.../LANG."
        )
    tsv = root / f"{COMMON_VOICE_SPLITS.get(split_spec.name, split_spec.name)}.tsv"
    if not tsv.is_file():
        inner = sorted(p.parent.name for p in root.glob("*/dev.tsv"))
        hint = f" (give the language folder: {root / inner[0]})" if inner else ""
        raise MpqError(
            f"dataset {str(spec)!r}: no {tsv.name} in {root}{hint}; a Common Voice language"
            " folder holds dev.tsv, test.tsv, train.tsv, validated.tsv and clips/."
        )
    with tsv.open(encoding="utf-8", newline="") as handle:
        # As Common Voice's own loaders read it: tab-separated, quotes are text.
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    missing = {"path", "sentence"} - set(rows[0] if rows else {"path", "sentence"})
    if missing:
        raise MpqError(f"{tsv}: no column(s) {', '.join(sorted(missing))}.")
    indices, excluded = split_spec.indices(len(rows)), set(spec.excluded)
    kept = [row for index, row in enumerate(rows) if index in indices and index not in excluded]
    entries = [_entry(root / "clips", row["path"], row["path"]) for row in kept]
    return FileDataset(
        f"commonvoice:{root}",
        [path for path, _ in entries],
        [row["path"] for row in kept],
        [row["sentence"] for row in kept],
        [error for _, error in entries],
    )


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
    try:
        files = list_files([root], AUDIO_SUFFIXES, "audio files").files
    except MpqError as error:
        raise MpqError(f"dataset {name!r}: {error}") from None
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
    pairs = zip(files, texts, strict=True)
    texts = [_beside(file) if text is None else text for file, text in pairs]
    return FileDataset(name, files, ids, texts)


def _beside(clip: Path) -> str | None:
    """A transcript in a file next to the clip (NAME.txt, NAME.lab, NAME.normalized.txt)."""
    for suffix in BESIDE_SUFFIXES:
        path = clip.with_name(clip.stem + suffix)
        if path.is_file():
            return " ".join(path.read_text(encoding="utf-8").split())
    return None


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
    entries = [_entry(folder, record["file_name"], "file_name") for folder, record in rows]
    files = [path for path, _ in entries]
    ids = [os.path.relpath(f, root).replace(os.sep, "/") for f in files]
    texts = [record.get(key) if key else None for _, record in rows]
    return FileDataset(f"audiofolder:{root}", files, ids, texts, [e for _, e in entries])


def _entry(folder: Path, name: str, column: str) -> tuple[Path, str | None]:
    """`folder / name` when `name` stays inside the dataset, else why it is refused.

    Metadata is data from elsewhere: an absolute path or a ``..`` would read files outside the
    dataset. Symbolic links inside it are followed as the user laid them out.
    """
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or not name.strip():
        refused = (
            f"{column} {name!r} points outside the dataset folder {folder}; metadata must name"
            " files relative to it (no absolute paths, no '..')."
        )
        return folder / relative.name, refused
    return folder / relative, None


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

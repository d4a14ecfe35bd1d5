"""Compression without a model: audio files through codecs, with rates and similarity metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import soundfile

from mpq.audio.signal import Audio, load_audio
from mpq.core.errors import MpqError
from mpq.core.paths import safe_name
from mpq.core.task import Item, Score, Task

AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".raw", ".sph"}


def audio_files(inputs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
        elif item.exists():
            files.append(item)
        else:
            raise MpqError(f"{item}: no such file or folder.")
    if not files:
        raise MpqError(f"no audio files found in {', '.join(map(str, inputs))}.")
    return files


class AudioFiles(Task):
    """The `mpq-audio compress` task: no model, rows carry rates and similarity metrics."""

    name = "compress"
    modality = "audio"
    scores: ClassVar[dict[str, Score]] = {}

    def __init__(self, inputs: list[str | Path]) -> None:
        self.inputs = [Path(i) for i in inputs]
        self.files = audio_files(self.inputs)

    def describe(self) -> dict[str, Any]:
        return {"dataset": ",".join(str(i) for i in self.inputs), "model": ""}

    def count(self) -> int:
        return len(self.files)

    def items(self) -> Iterator[Item]:
        for path in self.files:
            try:
                yield Item(str(path), load_audio(path))
            except MpqError as error:
                yield Item(str(path), error=str(error))

    def predict(self, batch: list[Any]) -> list[Any]:
        return [None] * len(batch)

    def score(self, item: Item, prediction: Any, reference_prediction: Any) -> dict[str, float]:
        return {}

    def prediction_json(self, prediction: Any) -> Any:
        return None


class DecodedWriter:
    """Saves each decoded item as 32-bit float WAV under ROOT/<setting>/<item>.wav."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, item_id: str, setting_id: str, decoded: Audio) -> None:
        folder = self.root / safe_name(setting_id)
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(
            folder / f"{safe_name(item_id)}.wav", decoded.samples.T, decoded.sample_rate, "FLOAT"
        )

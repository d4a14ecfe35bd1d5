"""The task behind every `compress` command: files through codecs, with no model.

It has no task score; every row still carries the exact rate and the similarity metrics asked
for, and the uncompressed reference row records that the file was readable. A file that cannot
be read becomes a failed row with the loader's error, whatever the error is.

With `defer`, files are not read here but where they are coded (`UnreadFile`): the sweep sets it
when nothing in its own process needs an item's content (no model, no deep metric, nothing
saved), so that a file is read, coded and measured in one codec worker and its pixels or
samples never cross a process boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from mpq.core.errors import MpqError
from mpq.core.task import Item, Score, Task


@dataclass(frozen=True)
class UnreadFile:
    """A file item's data before it is read; small to send to a codec worker, which reads it."""

    path: Path
    load: Callable[[Path], Any]

    def read(self) -> Any:
        return self.load(self.path)


def load_error(error: Exception) -> str:
    """A loader's error as a failed row's text: an MpqError says itself; anything else (a
    loader's bug or odd input, which fails that item only) is named by its type."""
    if isinstance(error, MpqError):
        return str(error)
    return f"{type(error).__name__}: {error}"


class FileItems(Task):
    name = "compress"
    scores: ClassVar[dict[str, Score]] = {}
    reads_decoded = False
    defer = False  # yield UnreadFile items, read where they are coded

    def __init__(
        self,
        modality: str,
        inputs: list[Path],
        files: list[Path],
        load: Callable[[Path], Any],
        load_settings: dict[str, Any] | None = None,
    ) -> None:
        """`load_settings` are the loader's options (a pixel limit, say), recorded in the run."""
        self.modality = modality
        self.inputs = inputs
        self.files = files
        self.load = load
        self.load_settings = load_settings or {}

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": ",".join(str(i) for i in self.inputs),
            "model": "",
            **self.load_settings,
        }

    def count(self) -> int:
        return len(self.files)

    def items(self) -> Iterator[Item]:
        for path in self.files:
            if self.defer:
                yield Item(str(path), UnreadFile(path, self.load))
                continue
            try:
                data = self.load(path)
            except Exception as error:
                yield Item(str(path), error=load_error(error))
            else:
                yield Item(str(path), data)

    def predict(self, batch: list[Any]) -> list[Any]:
        return [None] * len(batch)

    def score(self, item: Item, prediction: Any, reference_prediction: Any) -> dict[str, float]:
        return {}

    def prediction_json(self, prediction: Any) -> Any:
        return None


def list_files(inputs: Iterable[str | Path], suffixes: Collection[str], kind: str) -> list[Path]:
    """Files given directly, plus those with `suffixes` inside given folders, sorted per folder.

    `kind` names what is looked for ("images", "audio files") in the error for none found.
    """
    inputs = [Path(item) for item in inputs]
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in suffixes)
        elif item.exists():
            files.append(item)
        else:
            raise MpqError(f"{item}: no such file or folder.")
    if not files:
        raise MpqError(f"no {kind} found in {', '.join(map(str, inputs))}.")
    return files

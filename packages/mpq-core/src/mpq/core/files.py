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

import os
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
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
        left_out: Mapping[str, int] | None = None,
    ) -> None:
        """`load_settings` are the loader's options (a pixel limit, say), recorded in the run;
        `left_out` counts the other files in the input folders by suffix (`FoundFiles`)."""
        self.modality = modality
        self.inputs = inputs
        self.files = files
        self.load = load
        self.load_settings = load_settings or {}
        self.left_out = dict(left_out or {})

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


@dataclass(frozen=True)
class FoundFiles:
    """The files to measure, and how many other files the given folders hold, by suffix."""

    files: list[Path]
    left_out: dict[str, int]


def list_files(inputs: Iterable[str | Path], suffixes: Collection[str], kind: str) -> FoundFiles:
    """Files given directly, plus those with `suffixes` inside given folders, sorted per folder.

    Inside a folder, hidden files and whatever is inside hidden folders (a name starting with
    '.': macOS's ._NAME.jpg resource forks, .ipynb_checkpoints, .git) are passed over, as
    datasets' data-file patterns pass them over (data_files.py,
    _is_unrequested_hidden_file_or_is_inside_unrequested_hidden_dir); a file given directly is
    always taken. `kind` names what is looked for ("images", "audio files") in the error for
    none found.
    """
    inputs = [Path(item) for item in inputs]
    files: list[Path] = []
    left_out: Counter[str] = Counter()
    for item in inputs:
        if item.is_dir():
            for path in _visible_files(item):
                suffix = path.suffix.lower()
                if suffix in suffixes:
                    files.append(path)
                else:
                    left_out[suffix] += 1
        elif item.exists():
            files.append(item)
        else:
            raise MpqError(f"{item}: no such file or folder.")
    if not files:
        held = f" (they hold {_counted(left_out)})" if left_out else ""
        raise MpqError(
            f"no {kind} found in {', '.join(map(str, inputs))}{held}; {kind} are files ending in"
            f" {', '.join(sorted(suffixes))}, or name a file directly."
        )
    return FoundFiles(files, dict(left_out))


def _visible_files(folder: Path) -> list[Path]:
    """The files under `folder`, sorted, without hidden ones; hidden folders are not entered
    (a .git of many thousand objects costs nothing)."""
    found = []
    for parent, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [
            path
            for name in names
            if not name.startswith(".") and (path := Path(parent, name)).is_file()
        ]
    return sorted(found)


def left_out_notice(left_out: Mapping[str, int]) -> str | None:
    """What a sweep over folders passes over, to say before it starts; None for nothing."""
    if not left_out:
        return None
    count = sum(left_out.values())
    return (
        f"Left out {count} file{'s' if count > 1 else ''} of the given folders, of types this"
        f" command does not read ({_counted(left_out)}); name such a file directly to read it"
        " anyway."
    )


def _counted(by_suffix: Mapping[str, int]) -> str:
    return ", ".join(
        f"{count} {suffix or 'without a suffix'}" for suffix, count in sorted(by_suffix.items())
    )

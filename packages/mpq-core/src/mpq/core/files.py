"""The task behind every `compress` command: files through codecs, with no model.

It has no task score; every row still carries the exact rate and the similarity metrics asked
for, and the uncompressed reference row records that the file was readable. A file that cannot
be read becomes a failed row with the loader's error, whatever the error is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from mpq.core.errors import MpqError
from mpq.core.task import Item, Score, Task


class FileItems(Task):
    name = "compress"
    scores: ClassVar[dict[str, Score]] = {}
    reads_decoded = False

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
            try:
                data = self.load(path)
            except MpqError as error:
                yield Item(str(path), error=str(error))
            except Exception as error:  # a loader's bug or odd input fails this item only
                yield Item(str(path), error=f"{type(error).__name__}: {error}")
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

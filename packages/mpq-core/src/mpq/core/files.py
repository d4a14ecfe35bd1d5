"""The task behind every `compress` command: files through codecs, with no model.

It has no task score; every row still carries the exact rate and the similarity metrics asked
for, and the uncompressed reference row records that the file was readable. A file that cannot
be read becomes a failed row with the loader's error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from mpq.core.errors import MpqError
from mpq.core.task import Item, Score, Task


class FileItems(Task):
    name = "compress"
    scores: ClassVar[dict[str, Score]] = {}

    def __init__(
        self, modality: str, inputs: list[Path], files: list[Path], load: Callable[[Path], Any]
    ) -> None:
        self.modality = modality
        self.inputs = inputs
        self.files = files
        self.load = load

    def describe(self) -> dict[str, Any]:
        return {"dataset": ",".join(str(i) for i in self.inputs), "model": ""}

    def count(self) -> int:
        return len(self.files)

    def items(self) -> Iterator[Item]:
        for path in self.files:
            try:
                yield Item(str(path), self.load(path))
            except MpqError as error:
                yield Item(str(path), error=str(error))

    def predict(self, batch: list[Any]) -> list[Any]:
        return [None] * len(batch)

    def score(self, item: Item, prediction: Any, reference_prediction: Any) -> dict[str, float]:
        return {}

    def prediction_json(self, prediction: Any) -> Any:
        return None

"""Compression without a model: image files through codecs, with rates and similarity metrics.

This is the `mpq-image compress` command's task. It has no model and no task score; every row
still carries the exact rate and the similarity metrics asked for, and the uncompressed reference
row records that the image was readable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from mpq.core.errors import MpqError
from mpq.core.paths import safe_name
from mpq.core.task import Item, Score, Task
from mpq.image.data import image_files, load_image


class ImageFiles(Task):
    name = "compress"
    modality = "image"
    scores: ClassVar[dict[str, Score]] = {}

    def __init__(self, inputs: list[str | Path]) -> None:
        self.inputs = [Path(i) for i in inputs]
        self.files = image_files(self.inputs)

    def describe(self) -> dict[str, Any]:
        return {"dataset": ",".join(str(i) for i in self.inputs), "model": ""}

    def count(self) -> int:
        return len(self.files)

    def items(self) -> Iterator[Item]:
        for path in self.files:
            try:
                yield Item(str(path), load_image(path))
            except MpqError as error:
                yield Item(str(path), error=str(error))

    def predict(self, batch: list[Any]) -> list[Any]:
        return [None] * len(batch)

    def score(self, item: Item, prediction: Any, reference_prediction: Any) -> dict[str, float]:
        return {}

    def prediction_json(self, prediction: Any) -> Any:
        return None


class DecodedWriter:
    """Saves each decoded image as a lossless PNG under ROOT/<setting>/<item>.png."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, item_id: str, setting_id: str, decoded: np.ndarray) -> None:
        folder = self.root / safe_name(setting_id)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(decoded, "RGB").save(folder / f"{safe_name(item_id)}.png")

"""`mpq-image compress`: image files through codecs, and decoded images saved as PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from mpq.core.files import FileItems
from mpq.core.paths import safe_name
from mpq.image.data import image_files, load_image


def image_file_items(inputs: list[Path]) -> FileItems:
    return FileItems("image", inputs, image_files(inputs), load_image)


class DecodedWriter:
    """Saves each decoded image as a lossless PNG under ROOT/<setting>/<item>.png."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, item_id: str, setting_id: str, decoded: np.ndarray) -> None:
        folder = self.root / safe_name(setting_id)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(decoded, "RGB").save(folder / f"{safe_name(item_id)}.png")

"""`mpq-image compress`: image files through codecs, and decoded images saved as PNG."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mpq.core.files import FileItems
from mpq.core.paths import decoded_file
from mpq.image.data import MAX_PIXELS, image_files, load_image

if TYPE_CHECKING:
    import numpy as np

LOAD_OPTIONS = (
    click.option(
        "--max-pixels",
        type=click.IntRange(min=1),
        default=MAX_PIXELS,
        show_default=True,
        help="Images with more pixels become failed rows before they are decoded"
        " (decompression bombs).",
    ),
)


def image_file_items(inputs: list[Path], max_pixels: int = MAX_PIXELS) -> FileItems:
    load = functools.partial(load_image, max_pixels=max_pixels)
    found = image_files(inputs)
    settings = {"max_pixels": max_pixels}
    return FileItems("image", inputs, found.files, load, settings, found.left_out)


class DecodedWriter:
    """Saves each decoded image as a lossless PNG under ROOT/<setting>/<item>.png."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, item_id: str, setting_id: str, decoded: np.ndarray) -> None:
        from PIL import Image

        Image.fromarray(decoded, "RGB").save(decoded_file(self.root, item_id, setting_id, ".png"))

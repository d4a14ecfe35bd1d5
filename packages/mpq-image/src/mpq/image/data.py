"""Reading images into the form every image codec and metric takes: HxWx3 uint8 RGB arrays.

Grayscale, palette and RGBA inputs are converted to RGB (alpha is dropped, not composited) so that
every codec sees the same pixels and bits per pixel always count three channels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mpq.core.errors import MpqError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".gif"}


def to_rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def load_image(path: str | Path) -> np.ndarray:
    """HxWx3 uint8 RGB; a clear error naming the file when it is missing or not an image."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except FileNotFoundError:
        raise MpqError(f"{path}: no such file.") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise MpqError(f"{path}: not a readable image ({error}).") from error


def image_files(inputs: list[str | Path]) -> list[Path]:
    """Files given directly, plus the images (by suffix) inside given folders, sorted."""
    files: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif item.exists():
            files.append(item)
        else:
            raise MpqError(f"{item}: no such file or folder.")
    if not files:
        raise MpqError(f"no images found in {', '.join(map(str, inputs))}.")
    return files

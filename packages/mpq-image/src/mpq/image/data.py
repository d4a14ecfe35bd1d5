"""Reading images into the form every image codec and metric takes: HxWx3 uint8 RGB arrays.

Grayscale, palette and RGBA inputs are converted to RGB (alpha is dropped, not composited) so that
every codec sees the same pixels and bits per pixel always count three channels. An image whose
EXIF orientation says it is shown turned or mirrored is transposed upright first, as hub datasets
decode it, so a photo is the same model input whatever its source. Images of more than 8 bits
per sample (16-bit or 32-bit integer, float) are refused rather than reduced: Pillow's conversion
to RGB clips such values to 0..255 instead of scaling them, and Pillow decodes 16-bit colour and
gray+alpha files straight into 8-bit modes, so their depth is read from the file's description
before decoding. Images above `max_pixels` are refused before their pixels are decoded, so a
decompression bomb is one failed item.

numpy and Pillow are imported by the functions that use them: the command line reads
`MAX_PIXELS` here and loads in a few times the interpreter's start-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mpq.core.errors import MpqError
from mpq.core.files import FoundFiles, list_files

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".gif"}
# Pillow's own limit (about 89 megapixels, a 9459 x 9459 image) as mpq's default.
MAX_PIXELS = 89_478_485
# Modes whose samples exceed 8 bits (Pillow's mode list: "I;16*" 16-bit, "I" 32-bit, "F" float).
_WIDE_MODES = ("I", "F")
# Endings of raw modes of 16-bit samples (big, little, native byte order), which Pillow 13.0.0
# decodes into 8-bit modes keeping the high byte: PngImagePlugin._MODES opens 16-bit RGB, RGBA
# and gray+alpha PNGs as RGB and RGBA with the raw modes "RGB;16B", "RGBA;16B" and "LA;16B"
# (SgiImagePlugin likewise; TiffImagePlugin.OPEN_INFO has "RGB;16L", "CMYK;16B", ...).
_WIDE_RAWMODES = (";16B", ";16L", ";16N")


def to_rgb(image: Image.Image) -> np.ndarray:
    """HxWx3 uint8, upright as its EXIF orientation says; an image of more than 8 bits per
    sample is refused, never clipped or truncated."""
    import numpy as np

    wide = _wide_samples(image)
    if wide is not None:
        layout, depth = wide
        scaling = (
            "round(value * 255) for floats in [0, 1]"
            if layout == "F"
            else "value // 257 for 16 bits"
        )
        raise MpqError(
            f"{layout} image ({depth}): mpq measures 8-bit images and will not clip or truncate"
            f" the values; convert it to 8 bits per sample first (scaling, e.g. {scaling})."
        )
    return np.asarray(_upright(image).convert("RGB"), dtype=np.uint8)


def load_image(path: str | Path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """HxWx3 uint8 RGB; any failure to read the file is an MpqError naming it."""
    from PIL import Image

    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise MpqError(f"{path}: the file is empty (0 bytes), not an image.")
        with _own_pixel_limit(), Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise MpqError(
                    f"{path}: {width} x {height} = {width * height} pixels is above the limit of"
                    f" {max_pixels} (a decompression bomb, or a very large image: raise"
                    " --max-pixels to read it)."
                )
            return to_rgb(image)  # decodes, once the file's bit depth is known
    except FileNotFoundError:
        raise MpqError(f"{path}: no such file.") from None
    except MpqError as error:
        message = str(error)
        raise MpqError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    except Exception as error:  # any decoder failure is this item's failure, not the sweep's
        raise MpqError(
            f"{path}: not a readable image ({type(error).__name__}: {error})."
        ) from error


@contextlib.contextmanager
def _own_pixel_limit() -> Iterator[None]:
    """Pillow warns above its limit and refuses at twice it when opening; mpq's own limit
    (checked before decoding) decides instead, so that a larger `max_pixels` is honoured."""
    from PIL import Image

    default = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = default


def _wide_samples(image: Image.Image) -> tuple[str, str] | None:
    """(layout, depth) of an image of more than 8 bits per sample, else None."""
    if image.mode.startswith(_WIDE_MODES):
        return image.mode, _depth(image.mode)
    layout, bits = _stored_bits(image)
    return (layout, f"{bits} bits per sample") if bits > 8 else None


def _stored_bits(image: Image.Image) -> tuple[str, int]:
    """(layout, bits per sample) as the file stores them, where Pillow decodes to 8 bits.

    Read from what Pillow parsed on opening: a TIFF's BitsPerSample tag (TiffImagePlugin._setup
    gives 16-bit colour planes stored apart tiles of 8-bit bands, so the raw mode misses them),
    a PPM's maximum value (PpmImagePlugin.PpmDecoder scales one above 255 to 8 bits), else the
    tiles' raw modes. Pillow drops the tiles once it decodes, so this reads them before `load()`;
    an image made in memory (a transposed copy, a decoded hub image) has none.
    """
    from PIL import TiffImagePlugin

    if isinstance(image, TiffImagePlugin.TiffImageFile):
        return image.mode, max(image.tag_v2.get(TiffImagePlugin.BITSPERSAMPLE, (1,)))
    for tile in getattr(image, "tile", ()):
        args = tile.args if isinstance(tile.args, tuple) else (tile.args,)
        if tile.codec_name in ("ppm", "ppm_plain") and isinstance(args[-1], int):
            return image.mode, args[-1].bit_length()  # args: (raw mode, maximum value)
        if isinstance(args[0], str) and args[0].endswith(_WIDE_RAWMODES):
            return args[0].split(";")[0], 16
    return image.mode, 8


def _upright(image: Image.Image) -> Image.Image:
    """Transposed as its EXIF orientation says, the rule datasets applies to hub images
    (datasets 5.2.0, features/image.py, Image.decode_example: PIL.ImageOps.exif_transpose)."""
    from PIL import ExifTags, ImageOps

    if image.getexif().get(ExifTags.Base.Orientation, 1) == 1:
        return image
    return ImageOps.exif_transpose(image)


def _depth(mode: str) -> str:
    if mode.startswith("I;16"):
        return "16 bits per sample"
    return "32-bit float samples" if mode == "F" else "32-bit integer samples"


def image_files(inputs: list[str | Path]) -> FoundFiles:
    """Files given directly, plus the images (by suffix) inside given folders, sorted."""
    return list_files(inputs, IMAGE_SUFFIXES, "images")


def check_image(data: Any, codec: str) -> tuple[int, int]:
    """(height, width) of an HxWx3 uint8 array, or a clear error naming the codec."""
    import numpy as np

    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 3:
        raise ValueError(f"{codec} takes HxWx3 uint8 RGB arrays, got {_describe(data)}")
    if data.shape[2] != 3:
        raise ValueError(f"{codec} takes 3-channel RGB images, got {data.shape[2]} channels")
    return data.shape[0], data.shape[1]


def _describe(data: Any) -> str:
    import numpy as np

    if isinstance(data, np.ndarray):
        return f"an array of shape {data.shape} and dtype {data.dtype}"
    return type(data).__name__

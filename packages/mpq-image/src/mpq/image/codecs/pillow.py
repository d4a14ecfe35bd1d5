"""JPEG, WebP, AVIF and JPEG 2000 through Pillow, in memory.

Rate counts the whole file Pillow writes (JFIF/RIFF/ISOBMFF/JP2 container and headers included),
since that is what a decoder receives. Pillow's defaults are kept except where they would hide
what is measured: metadata (EXIF, ICC) is never written, and AVIF encodes on one thread because
the engine already runs one codec process per core.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from mpq.core.codec import Codec, Param
from mpq.core.rate import Bitstream, ImageExtent
from mpq.image.data import check_image, to_rgb


class PillowCodec(Codec):
    """One Pillow format; subclasses name the format and map parameters to save() options."""

    libraries = ("mpq-image", "pillow")

    modality = "image"
    format: ClassVar[str]

    def save_options(self) -> dict[str, Any]:
        raise NotImplementedError

    def encode(self, data: np.ndarray) -> Bitstream:
        height, width = check_image(data, self.name)
        buffer = io.BytesIO()
        Image.fromarray(data, "RGB").save(buffer, format=self.format, **self.save_options())
        return Bitstream(buffer.getvalue(), ImageExtent(height, width, 3))

    def decode(self, bitstream: Bitstream) -> np.ndarray:
        with Image.open(io.BytesIO(bitstream.payload)) as image:
            image.load()
            return to_rgb(image)


class JPEG(PillowCodec):
    name = "jpeg"
    format = "JPEG"
    description = "baseline JPEG (libjpeg-turbo through Pillow)"
    parameters = (
        Param("quality", int, 75, low=1, high=100, rate=+1, help="libjpeg quality"),
        Param("subsampling", str, "420", choices=("444", "422", "420"), help="chroma subsampling"),
        Param("optimize", bool, False, help="optimised Huffman tables (smaller, same pixels)"),
    )

    def save_options(self) -> dict[str, Any]:
        sub = self.values["subsampling"]
        return {
            "quality": self.values["quality"],
            "subsampling": f"{sub[0]}:{sub[1]}:{sub[2]}",
            "optimize": self.values["optimize"],
        }


class WebP(PillowCodec):
    name = "webp"
    format = "WEBP"
    description = "lossy WebP (libwebp through Pillow)"
    parameters = (
        Param("quality", int, 75, low=0, high=100, rate=+1, help="libwebp quality"),
        Param("method", int, 4, low=0, high=6, help="effort: 0 fast, 6 best compression"),
    )

    def save_options(self) -> dict[str, Any]:
        return {
            "quality": self.values["quality"],
            "method": self.values["method"],
            "lossless": False,
        }


class AVIF(PillowCodec):
    name = "avif"
    format = "AVIF"
    description = "AVIF (AV1 intra through Pillow's libavif)"
    parameters = (
        Param("quality", int, 75, low=0, high=100, rate=+1, help="libavif quality"),
        Param("speed", int, 6, low=0, high=10, help="encoder speed: 0 slowest/best, 10 fastest"),
        Param("subsampling", str, "420", choices=("444", "422", "420"), help="chroma subsampling"),
    )

    def save_options(self) -> dict[str, Any]:
        sub = self.values["subsampling"]
        return {
            "quality": self.values["quality"],
            "speed": self.values["speed"],
            "subsampling": f"{sub[0]}:{sub[1]}:{sub[2]}",
            "max_threads": 1,
        }


class JPEG2000(PillowCodec):
    name = "jpeg2000"
    format = "JPEG2000"
    description = "JPEG 2000 (OpenJPEG through Pillow), irreversible 9/7 wavelet, JP2 container"
    parameters = (
        Param(
            "ratio", float, 50.0, low=1.0, high=5000.0, rate=-1,
            help="target compression ratio vs raw 8-bit RGB (larger: fewer bits)",
        ),
    )  # fmt: skip

    def save_options(self) -> dict[str, Any]:
        return {
            "quality_mode": "rates",
            "quality_layers": [self.values["ratio"]],
            "irreversible": True,
            "no_jp2": False,
        }

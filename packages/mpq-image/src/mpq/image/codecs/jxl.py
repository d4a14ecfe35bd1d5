"""JPEG XL through imagecodecs (libjxl), in memory.

Rate counts the whole codestream libjxl writes (bare codestream, no ISOBMFF container, since the
container only adds boxes for metadata mpq never writes). The rate knob is the Butteraugli
distance: larger distances give fewer bits. Encoding runs on one thread because the engine
already runs one codec process per core.
"""

from __future__ import annotations

import imagecodecs
import numpy as np

from mpq.core.codec import Codec, Param
from mpq.core.rate import Bitstream, ImageExtent
from mpq.image.data import check_image


class JPEGXL(Codec):
    libraries = ("mpq-image", "imagecodecs")
    name = "jpegxl"
    modality = "image"
    description = "JPEG XL (libjxl through imagecodecs), lossy VarDCT"
    parameters = (
        Param(
            "distance", float, 1.0, low=0.05, high=25.0, rate=-1,
            help="Butteraugli distance: 1 visually lossless, larger is coarser",
        ),
        Param("effort", int, 7, low=1, high=9, help="encoder effort: 1 fastest, 9 slowest"),
    )  # fmt: skip

    def encode(self, data: np.ndarray) -> Bitstream:
        height, width = check_image(data, self.name)
        payload = imagecodecs.jpegxl_encode(
            data,
            distance=self.values["distance"],
            effort=self.values["effort"],
            lossless=False,
            usecontainer=False,
            numthreads=1,
        )
        return Bitstream(bytes(payload), ImageExtent(height, width, 3))

    def decode(self, bitstream: Bitstream) -> np.ndarray:
        return np.ascontiguousarray(imagecodecs.jpegxl_decode(bitstream.payload, numthreads=1))

"""HEIF with HEVC intra (x265 through pillow-heif's libheif), in memory.

Rate counts the whole HEIF file libheif writes: the ISOBMFF boxes (ftyp, meta with the item
properties, the nclx colour profile that tells the decoder how to turn YCbCr back into RGB) and
the HEVC coded image, since that is what a decoder receives. No EXIF, XMP or thumbnail is written.
x265 runs on one thread (`pools=1`, `frame-threads=1`) because the engine already runs one codec
process per core (the bytes are the same as with its default thread pool). The default preset,
`slow`, and 4:2:0 chroma are libheif's own defaults. Decoding is libde265 through libheif;
odd sizes are coded padded and cropped back by the file's own clean-aperture box.
"""

from __future__ import annotations

import io

import numpy as np

from mpq.core.codec import Codec, Param
from mpq.core.errors import MpqError
from mpq.core.rate import Bitstream, ImageExtent
from mpq.image.data import check_image

X265_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                "slower", "veryslow", "placebo")  # fmt: skip
ONE_THREAD = {"x265:pools": "1", "x265:frame-threads": "1"}


class HEIF(Codec):
    name = "heif"
    modality = "image"
    description = "HEIF/HEVC intra (x265 and libde265 through pillow-heif's libheif)"
    parameters = (
        Param("quality", int, 50, low=0, high=100, rate=+1, help="libheif quality"),
        Param("preset", str, "slow", choices=X265_PRESETS, help="x265 speed preset"),
        Param("subsampling", str, "420", choices=("444", "422", "420"), help="chroma subsampling"),
    )

    def encode(self, data: np.ndarray) -> Bitstream:
        pillow_heif = _pillow_heif()
        height, width = check_image(data, self.name)
        heif = pillow_heif.from_bytes("RGB", (width, height), np.ascontiguousarray(data).tobytes())
        buffer = io.BytesIO()
        heif.save(buffer, **self.save_options())
        return Bitstream(buffer.getvalue(), ImageExtent(height, width, 3))

    def save_options(self) -> dict:
        """pillow-heif's save() keywords for these values (also used by the tests' reference)."""
        return {
            "quality": self.values["quality"],
            "chroma": self.values["subsampling"],
            "enc_params": {"preset": self.values["preset"], **ONE_THREAD},
        }

    def decode(self, bitstream: Bitstream) -> np.ndarray:
        pillow_heif = _pillow_heif()
        try:
            heif = pillow_heif.open_heif(io.BytesIO(bitstream.payload), convert_hdr_to_8bit=True)
            image = heif.to_pillow()
        except (ValueError, EOFError, SyntaxError, RuntimeError) as error:
            raise MpqError(f"heif: cannot decode the payload ({error}).") from error
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _pillow_heif():
    try:
        import pillow_heif
    except ImportError:
        raise MpqError(
            "heif needs pillow-heif: pip install 'mpq-image[heif]' (with -c constraints.txt)."
        ) from None
    return pillow_heif

import io

import numpy as np
import pytest
import skimage.data
from PIL import Image

from mpq.core.codec import Setting, Target, apply_setting, codec_instance
from mpq.core.errors import MpqError, ParameterError
from mpq.core.rate import Bitstream
from mpq.image.codecs.heif import HEIF

pillow_heif = pytest.importorskip("pillow_heif")

PHOTOS = {
    "astronaut-97x131": skimage.data.astronaut()[100:197, 150:281],
    "coffee-61x83": skimage.data.coffee()[50:111, 200:283],
    "chelsea-128x128": skimage.data.chelsea()[50:178, 100:228],
}


@pytest.mark.parametrize("subsampling", ["420", "444"])
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_round_trip_keeps_the_exact_shape(photo, subsampling):
    image = PHOTOS[photo]
    codec = codec_instance(HEIF, {"quality": 30, "subsampling": subsampling})
    bitstream = codec.encode(image)
    decoded = codec.decode(bitstream)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert bitstream.rate.bpp == 8 * len(bitstream.payload) / (image.shape[0] * image.shape[1])
    assert np.abs(decoded.astype(float) - image).mean() < 12


def test_encode_and_decode_are_deterministic():
    image = PHOTOS["coffee-61x83"]
    codec = codec_instance(HEIF, {"quality": 40})
    first, second = codec.encode(image), codec.encode(image)
    assert first.payload == second.payload
    assert np.array_equal(codec.decode(first), codec.decode(second))


def test_rate_grows_with_quality_and_the_pixels_improve():
    image = PHOTOS["chelsea-128x128"]
    codecs = [codec_instance(HEIF, {"quality": q}) for q in (0, 20, 40, 60, 80, 95)]
    streams = [codec.encode(image) for codec in codecs]
    rates = [s.rate.bpp for s in streams]
    assert rates == sorted(rates) and rates[0] < rates[-1] / 4
    pairs = zip(codecs, streams, strict=True)
    errors = [np.abs(c.decode(s).astype(float) - image).mean() for c, s in pairs]
    assert errors[-1] < errors[0] / 3


@pytest.mark.parametrize(
    ("quality", "preset", "subsampling"), [(25, "slow", "420"), (70, "fast", "444")]
)
def test_bytes_equal_pillow_heifs_own_pillow_plugin(quality, preset, subsampling):
    # The plugin path (pillow_heif.HeifImagePlugin) is the library's documented way to write HEIF
    # from Pillow; with the same quality, chroma and x265 parameters it writes the same file.
    image = PHOTOS["astronaut-97x131"]
    codec = HEIF(quality=quality, preset=preset, subsampling=subsampling)
    buffer = io.BytesIO()
    pillow_heif.register_heif_opener()
    Image.fromarray(image).save(buffer, format="HEIF", **codec.save_options())
    assert codec.encode(image).payload == buffer.getvalue()
    with Image.open(io.BytesIO(buffer.getvalue())) as reread:
        assert reread.format == "HEIF" and reread.size == (131, 97)


def test_the_defaults_are_libheifs_own():
    # libheif's x265 plugin defaults to preset "slow" and 4:2:0; one thread changes no byte.
    image = PHOTOS["chelsea-128x128"]
    buffer = io.BytesIO()
    pillow_heif.register_heif_opener()
    Image.fromarray(image).save(buffer, format="HEIF", quality=50)
    assert HEIF().encode(image).payload == buffer.getvalue()


def test_the_payload_is_a_heic_file_without_metadata():
    payload = HEIF().encode(PHOTOS["coffee-61x83"]).payload
    assert payload[4:12] == b"ftypheic"
    assert b"Exif" not in payload and b"mime" not in payload


def test_a_faster_preset_trades_bytes_for_time():
    image = PHOTOS["chelsea-128x128"]
    slow = HEIF(quality=50, preset="slow").encode(image)
    fast = HEIF(quality=50, preset="ultrafast").encode(image)
    assert slow.payload != fast.payload


def test_rate_target_lands_at_or_under_the_target():
    image = PHOTOS["astronaut-97x131"]
    result = apply_setting(HEIF, Setting("heif", target=Target("bpp", 0.6)), image)
    quality = result.values["quality"]
    above = codec_instance(HEIF, {"quality": quality + 1}).encode(image).rate.bpp
    assert result.bitstream.rate.bpp <= 0.6 < above


@pytest.mark.parametrize(
    ("values", "message"),
    [({"quality": 101}, "out of range"), ({"preset": "turbo"}, "not one of")],
)
def test_bad_parameters_are_refused(values, message):
    with pytest.raises(ParameterError, match=message):
        HEIF(**values)


def test_a_truncated_payload_fails_clearly():
    bitstream = HEIF().encode(PHOTOS["coffee-61x83"])
    truncated = Bitstream(bitstream.payload[: len(bitstream.payload) // 3], bitstream.extent)
    with pytest.raises(MpqError, match="heif: cannot decode"):
        HEIF().decode(truncated)

import io
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import skimage.data
import torch
from PIL import ExifTags, Image

from mpq.core.codec import (
    Setting,
    Target,
    apply_setting,
    codec_class,
    codec_instance,
    parse_codec_spec,
)
from mpq.core.errors import MpqError, ParameterError
from mpq.image.codecs import compressai as cai
from mpq.image.codecs.jxl import JPEGXL
from mpq.image.codecs.pillow import AVIF, JPEG, JPEG2000, WebP
from mpq.image.data import load_image

PHOTOS = {
    "astronaut-97x131": skimage.data.astronaut()[100:197, 150:281],
    "coffee-61x83": skimage.data.coffee()[50:111, 200:283],
    "chelsea-128x128": skimage.data.chelsea()[50:178, 100:228],
}
CLASSIC = [
    (JPEG, {"quality": 30}),
    (WebP, {"quality": 30}),
    (AVIF, {"quality": 30, "speed": 8}),
    (JPEG2000, {"ratio": 40.0}),
    (JPEGXL, {"distance": 3.0, "effort": 3}),
]
LEARNED = [
    (cls, {"quality": 1, "pretrained": False})
    for cls in (cai.Bmshj2018Hyperprior, cai.Mbt2018Mean, cai.Mbt2018, cai.Cheng2020Anchor)
]


def photo_ids():
    return list(PHOTOS)


@pytest.mark.parametrize(("cls", "values"), CLASSIC + LEARNED, ids=lambda v: getattr(v, "name", ""))
@pytest.mark.parametrize("photo", photo_ids())
def test_round_trip_keeps_shape_and_counts_original_pixels(cls, values, photo):
    image = PHOTOS[photo]
    codec = codec_instance(cls, values)
    bitstream = codec.encode(image)
    decoded = codec.decode(bitstream)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    height, width, _ = image.shape
    assert bitstream.rate.bpp == 8 * len(bitstream.payload) / (height * width)
    assert bitstream.extent.pixels == height * width  # never the padded size


@pytest.mark.parametrize(("cls", "values"), CLASSIC + LEARNED, ids=lambda v: getattr(v, "name", ""))
def test_encode_and_decode_are_deterministic(cls, values):
    image = PHOTOS["coffee-61x83"]
    codec = codec_instance(cls, values)
    first, second = codec.encode(image), codec.encode(image)
    assert first.payload == second.payload
    assert np.array_equal(codec.decode(first), codec.decode(second))


@pytest.mark.parametrize(
    ("cls", "knob", "values"),
    [
        (JPEG, "quality", [5, 25, 75]),
        (WebP, "quality", [0, 25, 75]),
        (AVIF, "quality", [10, 40, 80]),
        (JPEG2000, "ratio", [200.0, 50.0, 10.0]),
        (JPEGXL, "distance", [12.0, 4.0, 1.0]),
    ],
)
def test_rate_grows_with_quality(cls, knob, values):
    image = PHOTOS["chelsea-128x128"]
    extra = {"speed": 8} if cls is AVIF else {}
    rates = [codec_instance(cls, {knob: v, **extra}).encode(image).rate.bpp for v in values]
    assert rates == sorted(rates) and rates[0] < rates[-1]


def test_quality_improves_the_pixels():
    image = PHOTOS["chelsea-128x128"].astype(float)
    low = codec_instance(JPEG, {"quality": 5})
    high = codec_instance(JPEG, {"quality": 90})
    err_low = np.abs(low.decode(low.encode(PHOTOS["chelsea-128x128"])) - image).mean()
    err_high = np.abs(high.decode(high.encode(PHOTOS["chelsea-128x128"])) - image).mean()
    assert err_high < err_low / 2


@pytest.mark.parametrize(
    "spec", ["jpeg:bpp=1.2", "webp:bpp=0.3", "jpegxl:bpp=0.8", "jpeg2000:bpp=0.4"]
)
def test_rate_targets_land_at_or_under_the_target(spec):
    (setting,) = parse_codec_spec(spec)
    image = PHOTOS["astronaut-97x131"]
    result = apply_setting(codec_class(setting.codec), setting, image)
    assert result.bitstream.rate.bpp <= setting.target.value
    assert result.bitstream.rate.bpp > 0.5 * setting.target.value  # closest, not just any


def test_jpeg_rate_target_is_the_best_integer_quality():
    image = PHOTOS["astronaut-97x131"]
    setting = Setting("jpeg", target=Target("bpp", 1.0))
    result = apply_setting(JPEG, setting, image)
    quality = result.values["quality"]
    above = codec_instance(JPEG, {"quality": quality + 1}).encode(image).rate.bpp
    assert result.bitstream.rate.bpp <= 1.0 < above


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("jpeg:quality=0", r"out of range"),
        ("jpeg:subsampling=411", "not one of"),
        ("webp:quality=101", "out of range"),
        ("mbt2018:quality=9", r"\[1, 8\]"),
        ("cheng2020-attn:quality=7", r"\[1, 6\]"),
        ("jpegxl:distance=0", "out of range"),
        ("jpeg:kbps=8", "not a rate of image codecs"),
    ],
)
def test_out_of_range_parameters(spec, message):
    with pytest.raises(ParameterError, match=message):
        parse_codec_spec(spec)


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3)), np.zeros((8, 8, 4), np.uint8)]
)
def test_codecs_refuse_arrays_that_are_not_rgb_uint8(bad):
    with pytest.raises(ValueError, match="jpeg takes"):
        JPEG().encode(bad)


def test_grayscale_and_rgba_files_become_rgb(tmp_path):
    gray = skimage.data.camera()[:40, :50]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    rgba = np.dstack([PHOTOS["coffee-61x83"], np.full((61, 83), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    loaded = load_image(tmp_path / "gray.png")
    assert loaded.shape == (40, 50, 3) and np.array_equal(loaded[..., 0], gray)
    assert np.array_equal(load_image(tmp_path / "rgba.png"), PHOTOS["coffee-61x83"])


def test_a_photo_is_turned_upright_as_its_exif_orientation_says(tmp_path):
    stored = PHOTOS["astronaut-97x131"][:64, :96]
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown turned 90 degrees clockwise
    path = tmp_path / "turned.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    with Image.open(path) as image:
        raster = np.asarray(image.convert("RGB"))  # the pixels as stored, 96 wide
    loaded = load_image(path)
    assert raster.shape == (64, 96, 3) and loaded.shape == (96, 64, 3)
    assert np.array_equal(loaded, np.rot90(raster, k=-1))  # k=-1: clockwise
    assert not np.array_equal(loaded, np.rot90(raster, k=1))


@pytest.mark.parametrize("content", [b"definitely not an image", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_corrupt_files_give_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(MpqError, match=r"broken\.png: not a readable image"):
        load_image(path)
    with pytest.raises(MpqError, match="no such file"):
        load_image(tmp_path / "missing.png")


def test_an_empty_file_is_named_as_empty(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(MpqError) as error:
        load_image(path)
    assert str(error.value) == f"{path}: the file is empty (0 bytes), not an image."


def test_truncated_jpeg_payload_fails_to_decode():
    codec = JPEG(quality=50)
    bitstream = codec.encode(PHOTOS["coffee-61x83"])
    broken = type(bitstream)(bitstream.payload[:20], bitstream.extent)
    with pytest.raises(OSError):
        codec.decode(broken)


def test_learned_codec_loads_a_local_checkpoint_with_the_same_weights(tmp_path):
    random = codec_instance(cai.Mbt2018Mean, {"quality": 2, "pretrained": False})
    path = tmp_path / "mbt2018-mean-2.pth.tar"
    torch.save(random.net.state_dict(), path)
    loaded = codec_instance(cai.Mbt2018Mean, {"quality": 2, "checkpoint": str(path)})
    image = PHOTOS["coffee-61x83"]
    assert loaded.encode(image).payload == random.encode(image).payload


def test_learned_codec_offline_error_says_where_weights_come_from(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(MpqError) as error:
        cai.Mbt2018(quality=3).setup()
    message = str(error.value)
    assert "compressai.s3.amazonaws.com/models/v1/mbt2018-3" in message
    assert "checkpoints" in message and "checkpoint=" in message


def test_learned_payload_header_is_counted(tmp_path):
    codec = codec_instance(cai.Bmshj2018Hyperprior, {"quality": 1, "pretrained": False})
    image = PHOTOS["coffee-61x83"]
    bitstream = codec.encode(image)
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)
    x = torch.nn.functional.pad(x, cai._padding(61, 83))
    strings = codec.net.compress(x)["strings"]
    entropy_bytes = sum(len(s[0]) for s in strings)
    assert len(bitstream.payload) == entropy_bytes + cai._HEADER.size + 4 * len(strings)


def test_importing_image_codecs_does_not_import_tensorflow():
    code = (
        "import sys, mpq.image.cli, mpq.image.codecs.pillow, mpq.image.codecs.jxl,"
        " mpq.image.codecs.compressai; assert 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pillow_output_is_a_real_file_of_its_format():
    for cls, magic in ((JPEG, b"\xff\xd8"), (WebP, b"RIFF"), (JPEG2000, b"\x00\x00\x00\x0cjP")):
        payload = cls().encode(PHOTOS["coffee-61x83"]).payload
        assert payload.startswith(magic)
        with Image.open(io.BytesIO(payload)) as image:
            assert image.size == (83, 61)


def test_random_weights_are_the_same_in_every_process_for_a_seed():
    import subprocess
    import sys

    script = (
        "import hashlib, numpy as np, torch; torch.rand(7)\n"
        "from mpq.image.codecs import compressai as cai\n"
        "c = cai.Bmshj2018Hyperprior(quality=1, pretrained=False, seed=SEED); c.setup()\n"
        "image = (np.arange(40 * 52 * 3) % 251).astype(np.uint8).reshape(40, 52, 3)\n"
        "print(hashlib.sha256(c.encode(image).payload).hexdigest())\n"
    )
    digests = [
        subprocess.run(
            [sys.executable, "-c", script.replace("SEED", seed)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("0", "0", "1")
    ]
    assert digests[0] == digests[1] != digests[2]

import math

import pytest

from mpq.core.rate import (
    EXTENT_KINDS,
    RATE_UNITS_BY_MODALITY,
    AudioExtent,
    Bitstream,
    ImageExtent,
    extent_from_dict,
    extent_to_dict,
    rate_of,
)
from mpq.core.records import FIXED_NAMES


def test_image_rate_counts_bits_over_original_pixels():
    # 1234 bytes for a 97 x 131 RGB image, by hand: 9872 bits / 12707 pixels.
    rate = rate_of(1234, ImageExtent(height=97, width=131, channels=3))
    assert rate.bits == 9872
    assert rate.bpp == pytest.approx(9872 / 12707)
    assert rate.kbps is None
    assert rate.compression_ratio == pytest.approx(97 * 131 * 3 * 8 / 9872)


def test_bitstream_rate_uses_payload_length():
    stream = Bitstream(b"\x00" * 100, ImageExtent(10, 10, 1))
    assert stream.rate.bits == 800
    assert stream.rate.bpp == 8.0
    assert stream.rate.compression_ratio == 1.0


def test_audio_rate_over_original_duration_multichannel():
    # 3 s of stereo at 44.1 kHz in 12000 bytes: 96000 bits / 3 s = 32 kbps.
    extent = AudioExtent(samples=132300, channels=2, sample_rate=44100)
    rate = rate_of(12000, extent)
    assert rate.kbps == pytest.approx(32.0)
    assert rate.bits_per_sample == pytest.approx(96000 / (132300 * 2))
    assert rate.compression_ratio == pytest.approx(132300 * 2 * 16 / 96000)
    assert rate.bpp is None


def test_odd_audio_length_keeps_fractional_duration():
    extent = AudioExtent(samples=16001, channels=1, sample_rate=16000)
    assert rate_of(1000, extent).kbps == pytest.approx(8000 / (16001 / 16000) / 1000)


def test_unit_values_match_modality():
    assert set(rate_of(10, ImageExtent(2, 3, 3)).unit_values) == {"bits", "bytes", "bpp"}
    audio = rate_of(10, AudioExtent(100, 1, 8000)).unit_values
    assert set(audio) == {"bits", "bytes", "kbps", "bits_per_sample"}


def test_empty_payload_has_infinite_ratio():
    rate = rate_of(0, ImageExtent(4, 4, 3))
    assert rate.bits == 0 and rate.bpp == 0 and math.isinf(rate.compression_ratio)


@pytest.mark.parametrize(
    "make",
    [
        lambda: ImageExtent(0, 5, 3),
        lambda: ImageExtent(5, 5, -1),
        lambda: AudioExtent(10, 1, 0),
        lambda: ImageExtent(2.5, 5, 3),
    ],
)
def test_invalid_extents_are_refused(make):
    with pytest.raises(ValueError, match="positive integer"):
        make()


def test_negative_length_is_refused():
    with pytest.raises(ValueError):
        rate_of(-1, ImageExtent(1, 1, 1))


@pytest.mark.parametrize("extent", [ImageExtent(3, 5, 4), AudioExtent(99, 8, 48000)])
def test_extent_round_trips_through_dict(extent):
    assert extent_from_dict(extent_to_dict(extent)) == extent


def test_extents_name_their_row_columns_and_rate_units():
    image, audio = ImageExtent(3, 5, 4), AudioExtent(99, 2, 48000)
    assert image.columns() == {"height": 3, "width": 5, "pixels": 15, "channels": 4}
    assert audio.columns() == {"samples": 99, "sample_rate": 48000, "channels": 2}
    assert set(image.columns()) | set(audio.columns()) <= set(FIXED_NAMES)
    assert (image.rate_unit, audio.rate_unit) == ("bpp", "kbps")
    assert extent_to_dict(image)["kind"] == "image" and extent_to_dict(audio)["kind"] == "audio"
    assert RATE_UNITS_BY_MODALITY == {
        "image": ("bpp", "bits", "bytes"),
        "audio": ("kbps", "bits_per_sample", "bits", "bytes"),
    }
    for kind in EXTENT_KINDS:
        assert kind.rate_unit == kind.rate_units[0]

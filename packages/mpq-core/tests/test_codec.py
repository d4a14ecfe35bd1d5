import numpy as np
import pytest

from mpq.core.codec import (
    REFERENCE_SETTING,
    Codec,
    Param,
    Setting,
    Target,
    TargetUnreachable,
    apply_setting,
    parse_codec_spec,
)
from mpq.core.errors import ParameterError, UnknownPluginError
from mpq.core.rate import Bitstream, ImageExtent
from mpq.core.testing import SyntheticCodec

SYN = "python:mpq.core.testing:SyntheticCodec"


def photo(h=31, w=45, seed=0):
    """A smooth gradient with mild noise, so the rate spans a wide range over quality."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 250 / w, y * 250 / h, (x + y) * 120 / (h + w)], axis=-1)
    return np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)


def test_spec_expands_to_cartesian_product():
    settings = parse_codec_spec(f"{SYN}:quality=5,10:cost_ms=0,1")
    assert [s.id for s in settings] == [
        f"{SYN}:quality=5:cost_ms=0",
        f"{SYN}:quality=5:cost_ms=1",
        f"{SYN}:quality=10:cost_ms=0",
        f"{SYN}:quality=10:cost_ms=1",
    ]
    assert settings[0].values == (("quality", 5), ("cost_ms", 0.0))


def test_spec_with_rate_targets():
    settings = parse_codec_spec(f"{SYN}:bpp=0.5,1.5")
    assert [s.target for s in settings] == [Target("bpp", 0.5), Target("bpp", 1.5)]
    assert settings[1].id == f"{SYN}:bpp=1.5"


def test_plain_spec_is_one_default_setting():
    (setting,) = parse_codec_spec(SYN)
    assert setting == Setting(SYN)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (f"{SYN}:quality=0", r"out of range; use a value in \[1, 100\]"),
        (f"{SYN}:quality=abc", "not a valid int"),
        (f"{SYN}:quality=2.5", "not a valid int"),
        (f"{SYN}:qualty=5", "Did you mean quality"),
        (f"{SYN}:kbps=8", "not a rate of image codecs"),
        (f"{SYN}:bpp=-1", "must be > 0"),
        (f"{SYN}:quality", "must be 'name=value"),
        ("python:nomodule", "python:module:Class"),
    ],
)
def test_bad_specs_name_the_problem(spec, message):
    with pytest.raises(ParameterError, match=message):
        parse_codec_spec(spec)


def test_unknown_codec_name():
    with pytest.raises(UnknownPluginError, match="unknown codec 'nope'"):
        parse_codec_spec("nope:quality=1")


def test_suffixes_and_bools_parse():
    assert Param("bitrate", int, 8000).parse("16k", "c") == 16000
    assert Param("flag", bool, False).parse("yes", "c") is True
    with pytest.raises(ParameterError):
        Param("flag", bool, False).parse("maybe", "c")
    with pytest.raises(ParameterError, match="not one of"):
        Param("mode", str, "a", choices=("a", "b")).parse("c", "c")


def test_round_trip_and_rate_monotone_in_quality():
    image = photo()
    rates = []
    for quality in (1, 20, 60, 100):
        result = apply_setting(SyntheticCodec, Setting(SYN, (("quality", quality),)), image)
        assert result.decoded.shape == image.shape
        assert result.bitstream.rate.bpp == 8 * len(result.bitstream.payload) / (31 * 45)
        rates.append(result.bitstream.rate.bpp)
    assert rates == sorted(rates)
    exact = apply_setting(SyntheticCodec, Setting(SYN, (("quality", 100),)), image)
    assert np.array_equal(exact.decoded, image)


@pytest.mark.parametrize("target", [1.5, 3.0, 8.0])
def test_rate_target_lands_at_or_under_and_is_the_closest(target):
    image = photo(seed=3)
    result = apply_setting(SyntheticCodec, Setting(SYN, target=Target("bpp", target)), image)
    chosen = result.values["quality"]
    assert result.bitstream.rate.bpp <= target
    if chosen < 100:
        above = apply_setting(SyntheticCodec, Setting(SYN, (("quality", chosen + 1),)), image)
        assert above.bitstream.rate.bpp > target
    assert result.probes <= 9  # bisection, not a scan of 100 values


def test_unreachable_target_is_an_error_naming_the_floor():
    with pytest.raises(TargetUnreachable, match="even quality=1 gives"):
        apply_setting(SyntheticCodec, Setting(SYN, target=Target("bpp", 0.01)), photo())


class Distance(Codec):
    """Float knob where a larger value gives fewer bits (like a JPEG XL distance)."""

    name = "distance"
    modality = "image"
    parameters = (Param("distance", float, 1.0, low=0.0, high=10.0, rate=-1),)

    def encode(self, data):
        n = int(1000 / (1 + self.values["distance"]))
        return Bitstream(b"x" * n, ImageExtent(*data.shape))

    def decode(self, bitstream):
        return np.zeros((bitstream.extent.height, bitstream.extent.width, 3), np.uint8)


def test_float_knob_with_falling_rate():
    image = np.zeros((10, 10, 3), np.uint8)
    result = apply_setting(Distance, Setting("distance", target=Target("bytes", 250)), image)
    assert len(result.bitstream.payload) <= 250
    assert result.values["distance"] == pytest.approx(3.0, abs=0.03)


def test_reference_setting():
    assert REFERENCE_SETTING.is_reference and REFERENCE_SETTING.id == "none"


@pytest.mark.parametrize(
    "spec",
    [f"{SYN}:cost_ms=nan", f"{SYN}:cost_ms=inf", f"{SYN}:bpp=nan", f"{SYN}:bpp=inf",
     f"{SYN}:quality=nan", f"{SYN}:cost_ms=-inf", f"{SYN}:bpp=NaN"],
)  # fmt: skip
def test_non_finite_values_are_refused_at_parse_time(spec):
    with pytest.raises(ParameterError, match="is not a finite number"):
        parse_codec_spec(spec)


def test_non_finite_values_from_python_are_refused():
    with pytest.raises(ParameterError, match="is not a finite number"):
        SyntheticCodec(cost_ms=float("nan"))

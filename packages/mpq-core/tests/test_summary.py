import pytest

from mpq.core.codec import CodecResult
from mpq.core.rate import AudioExtent, Bitstream, ImageExtent
from mpq.core.records import rows_to_table
from mpq.core.summary import summarize
from mpq.core.sweep_rows import codec_columns


def rows(setting, extents, sizes):
    """Ok rows of one setting with the given extents and payload sizes."""
    out = []
    for n, (extent, size) in enumerate(zip(extents, sizes, strict=True)):
        result = CodecResult(Bitstream(b"x" * size, extent), None, {}, 0.0, 0.0)
        base = {"item_id": f"i{n}", "setting": setting, "codec": "c", "status": "ok"}
        out.append({**base, **codec_columns(result)})
    return out


def test_image_rates_are_bpp_mean_and_pooled():
    # 100 and 50 bytes over 10x10 and 10x30 pixels: 8 and 4/3 bpp; pooled 1200 bits / 400 pixels.
    table = rows_to_table(
        rows("c:q=1", [ImageExtent(10, 10, 3), ImageExtent(10, 30, 3)], [100, 50])
    )
    [summary] = summarize({"codecs": ["c:q=1"]}, table, resamples=10)
    assert summary.rate_unit == "bpp"
    assert summary.mean_rate == pytest.approx((8.0 + 400 / 300) / 2)
    assert summary.pooled_rate == pytest.approx(1200 / 400)


def test_audio_rates_are_kbps_mean_and_pooled_over_seconds():
    # 1000 bytes over 1 s and 1000 bytes over 3 s: 8 and 8/3 kbps; pooled 16000 bits / 4 s.
    extents = [AudioExtent(8000, 1, 8000), AudioExtent(48000, 2, 16000)]
    table = rows_to_table(rows("c:q=1", extents, [1000, 1000]))
    [summary] = summarize({"codecs": ["c:q=1"]}, table, resamples=10)
    assert summary.rate_unit == "kbps"
    assert summary.mean_rate == pytest.approx((8.0 + 8.0 / 3) / 2)
    assert summary.pooled_rate == pytest.approx(16.0 / 4)

from dataclasses import replace

import numpy as np
import pytest

from mpq.core.cache import BitstreamCache
from mpq.core.codec import CodecResult, Setting
from mpq.core.rate import Bitstream, ImageExtent

SETTING = Setting("jpeg", (("quality", 5),))


def result(decoded):
    bitstream = Bitstream(bytes(range(256)) * 3, ImageExtent(24, 25, 3))
    return CodecResult(bitstream, decoded, {"quality": 5}, 0.25, 0.125, 3)


@pytest.mark.parametrize(
    "decoded", [np.arange(24 * 25 * 3, dtype=np.uint8).reshape(24, 25, 3), None, "not an array"]
)
def test_an_entry_comes_back_exactly(tmp_path, decoded):
    cache = BitstreamCache(tmp_path)
    key = BitstreamCache.key("hash", SETTING, "1")
    assert cache.get(key) is None
    cache.put(key, result(decoded))
    back = cache.get(key)
    assert back.bitstream.payload == bytes(range(256)) * 3
    assert back.bitstream.extent == ImageExtent(24, 25, 3)
    assert (back.values, back.encode_s, back.decode_s, back.probes) == (
        {"quality": 5},
        0.25,
        0.125,
        3,
    )
    if isinstance(decoded, np.ndarray):
        assert back.decoded.dtype == decoded.dtype and np.array_equal(back.decoded, decoded)
        assert back.decoded.flags.writeable
    else:
        assert back.decoded is None  # only arrays are kept; the rest is decoded again


OTHER = Setting("jpeg", (("quality", 50),))


def test_an_items_entries_share_one_pack_and_the_last_record_of_a_key_wins(tmp_path):
    cache = BitstreamCache(tmp_path)
    low, high = (BitstreamCache.key("hash", s, "1") for s in (SETTING, OTHER))
    elsewhere = BitstreamCache.key("other-hash", SETTING, "1")
    cache.put_many([(low, result(None)), (high, result(np.zeros((2, 2, 3), np.uint8)))])
    cache.put(elsewhere, result(None))
    assert sorted(p.name for p in tmp_path.rglob("*.pack")) == ["hash.pack", "other-hash.pack"]
    missing = BitstreamCache.key("hash", Setting("jpeg", (("quality", 90),)), "1")
    assert set(cache.get_many([low, high, elsewhere, missing])) == {low, high, elsewhere}
    newer = replace(result(None), values={"quality": 6})
    cache.put(low, newer)
    assert cache.get(low).values == {"quality": 6}
    assert cache.get(high).decoded.shape == (2, 2, 3)
    assert (
        BitstreamCache.key("hash", SETTING, "2") != low
        and cache.get(BitstreamCache.key("hash", SETTING, "2")) is None
    )


def two_records(tmp_path):
    cache = BitstreamCache(tmp_path)
    first, second = (BitstreamCache.key("hash", s, "1") for s in (SETTING, OTHER))
    cache.put(first, result(None))
    [file] = tmp_path.rglob("*.pack")
    one_record = file.read_bytes()
    cache.put(second, result(np.zeros((2, 2, 3), np.uint8)))
    return cache, file, one_record, first, second


def test_a_record_cut_short_is_dropped_and_the_records_before_it_kept(tmp_path):
    cache, file, one_record, first, second = two_records(tmp_path)
    file.write_bytes(file.read_bytes()[:-1])
    assert cache.get(second) is None
    assert file.read_bytes() == one_record
    assert cache.get(first).bitstream.payload == bytes(range(256)) * 3


def test_bytes_after_the_last_record_are_dropped(tmp_path):
    cache, file, _, first, second = two_records(tmp_path)
    whole = file.read_bytes()
    file.write_bytes(whole + b"x")
    assert cache.get(second).decoded.shape == (2, 2, 3)
    assert file.read_bytes() == whole and cache.get(first) is not None


def test_a_pack_that_is_not_one_is_removed(tmp_path):
    cache, file, _, first, _ = two_records(tmp_path)
    file.write_bytes(b"x" + file.read_bytes()[1:])
    assert cache.get(first) is None and not file.exists()

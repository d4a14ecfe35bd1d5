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


@pytest.mark.parametrize("damage", [lambda b: b[:-1], lambda b: b + b"x", lambda b: b"x" + b[1:]])
def test_a_damaged_entry_is_dropped_and_coded_again(tmp_path, damage):
    cache = BitstreamCache(tmp_path)
    key = BitstreamCache.key("hash", SETTING, "1")
    cache.put(key, result(np.zeros((2, 2, 3), np.uint8)))
    [file] = tmp_path.rglob("*.entry")
    file.write_bytes(damage(file.read_bytes()))
    assert cache.get(key) is None and not file.exists()

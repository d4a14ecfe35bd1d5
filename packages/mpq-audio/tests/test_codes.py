"""The shared residual-VQ code packing: exact round trips and exactly the bits it promises."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mpq.audio.codes import index_bits, pack_codes, unpack_codes
from mpq.core.errors import MpqError


@pytest.mark.parametrize(("size", "bits"), [(2, 1), (1000, 10), (1024, 10), (2048, 11), (4096, 12)])
def test_index_bits(size, bits):
    assert index_bits(size) == bits


@pytest.mark.parametrize(
    ("shapes", "size"),
    [([(9, 258)], 1024), ([(8, 38)], 2048), ([(1, 12), (1, 24), (1, 48)], 4096), ([(4, 0)], 1024)],
)
def test_unpacking_gives_the_same_codes_in_exactly_the_counted_bytes(shapes, size):
    rng = np.random.default_rng(7)
    streams = [rng.integers(0, size, shape) for shape in shapes]
    streams[0][..., :1] = size - 1  # the largest index survives too
    payload = pack_codes(5, streams, size)
    indices = sum(c * f for c, f in shapes)
    assert len(payload) == 3 + 5 * len(shapes) + math.ceil(indices * index_bits(size) / 8)
    model, decoded = unpack_codes(payload)
    assert model == 5 and len(decoded) == len(streams)
    for original, back in zip(streams, decoded, strict=True):
        np.testing.assert_array_equal(back, original)


def test_the_layout_is_msb_first_codebook_major():
    payload = pack_codes(1, [np.array([[1, 2], [3, 1023]])], 1024)
    assert payload[:8] == bytes([1, 10, 1, 2, 0, 0, 0, 2])
    bits = "".join(f"{v:010b}" for v in (1, 2, 3, 1023))
    assert payload[8:] == int(bits, 2).to_bytes(5, "big")


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (np.array([[1024]]), r"\[0, 1024\)"),
        (np.array([[-1]]), r"\[0, 1024\)"),
        (np.zeros(3, int), "codebooks"),
    ],
)
def test_bad_codes_are_refused(codes, message):
    with pytest.raises(ValueError, match=message):
        pack_codes(0, [codes], 1024)


def test_damaged_payloads_fail_clearly():
    payload = pack_codes(0, [np.ones((2, 10), int)], 1024)
    with pytest.raises(MpqError, match="announces 20 indices"):
        unpack_codes(payload[:-1])
    with pytest.raises(MpqError, match="header is truncated"):
        unpack_codes(payload[:5])
    with pytest.raises(MpqError, match="shorter than its header"):
        unpack_codes(b"\x00")

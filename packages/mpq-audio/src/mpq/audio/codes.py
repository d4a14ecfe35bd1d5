"""Residual-VQ code indices as a counted bitstream: the one packing every RVQ codec uses.

Neural audio codecs such as DAC, SNAC and Mimi turn audio into integer code indices, one per
codebook and frame; their libraries keep the indices as tensors and write no bitstream. mpq
counts the smallest honest one: every index in ceil(log2(codebook size)) bits, MSB first, with
no entropy coding, behind a header holding what the decoder needs and cannot get from the item's
extent:

    byte 0      model id (an index into the codec's own table of models)
    byte 1      bits per index
    byte 2      number of code streams (SNAC codes at several frame rates, one stream each)
    per stream  codebooks (1 byte), frames (4 bytes, big-endian)

then the indices of every stream in order, codebook-major, padded with zero bits to a whole
byte. So bits = 8 x (3 + 5 x streams) + frames x codebooks x log2(codebook size), rounded up.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

import numpy as np

from mpq.core.errors import MpqError

_HEAD = struct.Struct(">BBB")
_STREAM = struct.Struct(">BI")


def index_bits(codebook_size: int) -> int:
    """Bits that hold any index below `codebook_size`."""
    return max(1, math.ceil(math.log2(codebook_size)))


def pack_codes(model_id: int, streams: Sequence[np.ndarray], codebook_size: int) -> bytes:
    """Header + bit-packed indices of `streams`, each a (codebooks, frames) integer array."""
    bits = index_bits(codebook_size)
    header = [_HEAD.pack(model_id, bits, len(streams))]
    flat = []
    for codes in streams:
        codes = np.asarray(codes)
        if codes.ndim != 2 or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"codes must be (codebooks, frames) integers, got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= codebook_size):
            raise ValueError(f"code indices must lie in [0, {codebook_size}).")
        header.append(_STREAM.pack(*codes.shape))
        flat.append(codes.astype(np.uint32).ravel())
    values = np.concatenate(flat) if flat else np.zeros(0, np.uint32)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint32)
    bitplane = ((values[:, None] >> shifts) & 1).astype(np.uint8)
    return b"".join(header) + np.packbits(bitplane.ravel()).tobytes()


def unpack_codes(payload: bytes) -> tuple[int, list[np.ndarray]]:
    """(model id, streams as int64 (codebooks, frames) arrays) from `pack_codes` output."""
    if len(payload) < _HEAD.size:
        raise MpqError("the code payload is shorter than its header.")
    model_id, bits, count = _HEAD.unpack_from(payload)
    at = _HEAD.size
    if len(payload) < at + count * _STREAM.size:
        raise MpqError("the code payload's header is truncated.")
    shapes = [_STREAM.unpack_from(payload, at + i * _STREAM.size) for i in range(count)]
    at += count * _STREAM.size
    total = sum(c * f for c, f in shapes)
    body = np.frombuffer(payload, np.uint8, offset=at)
    if len(body) != math.ceil(total * bits / 8):
        raise MpqError(
            f"the code payload holds {len(body)} bytes of indices; its header announces"
            f" {total} indices of {bits} bits ({math.ceil(total * bits / 8)} bytes)."
        )
    planes = np.unpackbits(body)[: total * bits].reshape(total, bits).astype(np.int64)
    values = planes @ (1 << np.arange(bits - 1, -1, -1, dtype=np.int64))
    streams, start = [], 0
    for codebooks, frames in shapes:
        streams.append(values[start : start + codebooks * frames].reshape(codebooks, frames))
        start += codebooks * frames
    return model_id, streams

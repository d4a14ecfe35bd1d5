"""Content hashes of items: the item half of a bitstream cache key."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np


def content_hash(obj: Any) -> str:
    """A stable hash of arrays, bytes, text, numbers and containers or dataclasses of them."""
    digest = hashlib.blake2b(digest_size=20)
    _feed(digest, obj)
    return digest.hexdigest()


def _feed(digest: Any, obj: Any) -> None:
    if isinstance(obj, np.ndarray):
        array = np.ascontiguousarray(obj)
        digest.update(f"nd{array.dtype.str}{array.shape}".encode())
        digest.update(array.data)
    elif isinstance(obj, bytes | bytearray | memoryview):
        digest.update(b"b%d:" % len(obj))
        digest.update(obj)
    elif isinstance(obj, str):
        _feed(digest, obj.encode())
    elif obj is None or isinstance(obj, bool | int | float | np.generic):
        digest.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, dict):
        digest.update(b"{")
        for key in sorted(obj, key=repr):
            _feed(digest, key)
            _feed(digest, obj[key])
        digest.update(b"}")
    elif isinstance(obj, list | tuple):
        digest.update(b"[")
        for value in obj:
            _feed(digest, value)
        digest.update(b"]")
    elif dataclasses.is_dataclass(obj):
        digest.update(type(obj).__qualname__.encode())
        _feed(digest, {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    else:
        raise TypeError(f"cannot hash item data of type {type(obj).__name__}")

"""Content-addressed cache of codec results, so re-scoring never re-encodes.

Key: hash of (item content hash, codec setting id, codec class version). An entry holds the exact
payload, its extent, the parameter values used, the original encode/decode timings and, when it is
a numpy array that the sweep kept, the decoded item. Entries are written atomically and read
without pickle, as one flat file: a magic line, the length of a JSON header, the header (which
also gives the payload's length and the decoded array's dtype and shape), the payload bytes and
the array's bytes. A zip archive per entry (numpy's npz) cost about a millisecond each, as much
as a JPEG encode.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np

from mpq.core.codec import CodecResult, Setting
from mpq.core.errors import RunStoreError
from mpq.core.rate import Bitstream, extent_from_dict, extent_to_dict

MAGIC = b"mpq-cache 1\n"
LENGTH_BYTES = 8


class BitstreamCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._folders: set[Path] = set()  # made already: one mkdir per folder, not per entry

    @staticmethod
    def key(content_hash: str, setting: Setting, codec_version: str) -> str:
        text = json.dumps([content_hash, setting.id, codec_version])
        return hashlib.sha256(text.encode()).hexdigest()

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.entry"

    def get(self, key: str) -> CodecResult | None:
        file = self._file(key)
        try:
            data = file.read_bytes()
        except OSError:  # absent (or unreadable): coded again
            return None
        try:
            return _parse(data)
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            file.unlink(missing_ok=True)  # damaged: coded again and rewritten
            return None

    def put(self, key: str, result: CodecResult) -> None:
        decoded = result.decoded if isinstance(result.decoded, np.ndarray) else None
        meta = {
            "extent": extent_to_dict(result.bitstream.extent),
            "values": result.values,
            "encode_s": result.encode_s,
            "decode_s": result.decode_s,
            "probes": result.probes,
            "payload_bytes": len(result.bitstream.payload),
            "decoded": None
            if decoded is None
            else {"dtype": decoded.dtype.str, "shape": list(decoded.shape)},
        }
        header = json.dumps(meta, default=str).encode()
        parts = [MAGIC, len(header).to_bytes(LENGTH_BYTES, "little"), header]
        parts.append(result.bitstream.payload)
        if decoded is not None:
            parts.append(np.ascontiguousarray(decoded).tobytes())
        file = self._file(key)
        tmp = file.with_name(f".tmp-{uuid.uuid4().hex}")
        try:
            if file.parent not in self._folders:
                file.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(file.parent)
            tmp.write_bytes(b"".join(parts))
            os.replace(tmp, file)
        except OSError as error:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise RunStoreError(
                f"cannot write the bitstream cache {self.root} ({error.strerror or error}). The"
                " rows already stored are intact: free space there (or pass --no-cache or another"
                " --cache-dir) and run the same command again to resume."
            ) from error


def _parse(data: bytes) -> CodecResult:
    """An entry's bytes back as a codec result; ValueError (or KeyError) if damaged."""
    if not data.startswith(MAGIC):
        raise ValueError("not a cache entry")
    start = len(MAGIC) + LENGTH_BYTES
    length = int.from_bytes(data[len(MAGIC) : start], "little")
    meta = json.loads(data[start : start + length])
    payload_start = start + length
    payload_end = payload_start + meta["payload_bytes"]
    payload = data[payload_start:payload_end]
    decoded = None
    if meta["decoded"] is not None:
        dtype, shape = np.dtype(meta["decoded"]["dtype"]), tuple(meta["decoded"]["shape"])
        decoded = np.frombuffer(data, dtype, count=int(np.prod(shape)), offset=payload_end)
        decoded = decoded.reshape(shape).copy()
        if payload_end + decoded.nbytes != len(data):
            raise ValueError("cache entry has trailing bytes")
    elif payload_end != len(data) or len(payload) != meta["payload_bytes"]:
        raise ValueError("cache entry is truncated")
    bitstream = Bitstream(payload, extent_from_dict(meta["extent"]))
    return CodecResult(
        bitstream, decoded, meta["values"], meta["encode_s"], meta["decode_s"], meta["probes"]
    )

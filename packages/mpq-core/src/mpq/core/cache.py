"""Content-addressed cache of codec results, so re-scoring never re-encodes.

Key: the item's content hash and a hash of (codec setting id, codec class version). An entry holds
the exact payload, its extent, the parameter values used, the original encode/decode timings and,
when it is a numpy array that the sweep kept, the decoded item. It is read without pickle.

All entries of one item live in one file, its pack (ROOT/<hash[:2]>/<hash>.pack), as records
appended one after another: a magic line, the length of a JSON header, the header (the entry's
key, the payload's length, the decoded array's dtype and shape), the payload bytes and the array's
bytes. The settings a worker codes for an item are appended in one write. Creating a file costs
about half a millisecond on an ordinary disk, as much as a JPEG encode, so one file per item
instead of one per setting is what keeps the cache off a fast codec's critical path. A lookup
reads the records' headers and only its own entry's bytes; a later record of the same key wins.
A damaged tail (a write cut short by a crash) is dropped and the records before it are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from mpq.core.codec import CodecResult, Setting
from mpq.core.errors import RunStoreError
from mpq.core.rate import Bitstream, extent_from_dict, extent_to_dict

MAGIC = b"mpq-cache 2\n"
LENGTH_BYTES = 8
_DAMAGE = (ValueError, KeyError, TypeError, json.JSONDecodeError)


class BitstreamCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._folders: set[Path] = set()  # made already: one mkdir per folder, not per entry

    @staticmethod
    def key(content_hash: str, setting: Setting, codec_version: str) -> str:
        text = json.dumps([setting.id, codec_version])
        return f"{content_hash or '_'}.{hashlib.sha256(text.encode()).hexdigest()}"

    def _file(self, key: str) -> Path:
        item = key.split(".", 1)[0]
        return self.root / item[:2] / f"{item}.pack"

    def get(self, key: str) -> CodecResult | None:
        return self.get_many([key]).get(key)

    def get_many(self, keys: list[str]) -> dict[str, CodecResult]:
        """The cached entries among `keys`, each pack read once (an item's settings share one)."""
        by_file: dict[Path, set[str]] = {}
        for key in keys:
            by_file.setdefault(self._file(key), set()).add(key)
        found: dict[str, CodecResult] = {}
        for file, wanted in by_file.items():
            found.update(_read_pack(file, wanted))
        return found

    def put(self, key: str, result: CodecResult) -> None:
        self.put_many([(key, result)])

    def put_many(self, entries: list[tuple[str, CodecResult]]) -> None:
        """Append entries (all of one item, for one write) to their packs."""
        by_file: dict[Path, list[bytes]] = {}
        for key, result in entries:
            by_file.setdefault(self._file(key), []).append(_record(key, result))
        for file, records in by_file.items():
            try:
                if file.parent not in self._folders:
                    file.parent.mkdir(parents=True, exist_ok=True)
                    self._folders.add(file.parent)
                _append(file, b"".join(records))
            except OSError as error:
                raise RunStoreError(
                    f"cannot write the bitstream cache {self.root} ({error.strerror or error})."
                    " The rows already stored are intact: free space there (or pass --no-cache or"
                    " another --cache-dir) and run the same command again to resume."
                ) from error


def _read_pack(file: Path, wanted: set[str]) -> dict[str, CodecResult]:
    """The entries of `wanted` in one pack; a damaged tail is cut off, the records before it
    kept. An absent (or unreadable) pack holds none: they are coded again."""
    try:
        handle = file.open("rb")
    except OSError:
        return {}
    found: dict[str, CodecResult] = {}
    with handle:
        size = os.fstat(handle.fileno()).st_size
        good = 0
        try:
            while good < size:
                meta, body = _read_header(handle)
                if handle.tell() + body > size:
                    raise ValueError("cache record is truncated")
                if meta["key"] in wanted:
                    found[meta["key"]] = _result(meta, handle.read(body))
                else:
                    handle.seek(body, os.SEEK_CUR)
                good = handle.tell()
        except _DAMAGE:
            handle.seek(0)
            _keep_prefix(file, handle.read(good))
    return found


def _record(key: str, result: CodecResult) -> bytes:
    decoded = result.decoded if isinstance(result.decoded, np.ndarray) else None
    meta = {
        "key": key,
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
    return b"".join(parts)


def _append(file: Path, data: bytes) -> None:
    """One append, so that records of concurrent writers do not interleave."""
    descriptor = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)


def _read_header(handle: BinaryIO) -> tuple[dict[str, Any], int]:
    """A record's header and the length of the bytes after it; ValueError if damaged."""
    if handle.read(len(MAGIC)) != MAGIC:
        raise ValueError("not a cache record")
    length = int.from_bytes(handle.read(LENGTH_BYTES), "little")
    meta = json.loads(handle.read(length))
    body = meta["payload_bytes"]
    array = _array_spec(meta)
    if array is not None:
        dtype, shape = array
        body += dtype.itemsize * int(np.prod(shape))
    return meta, body


def _array_spec(meta: dict[str, Any]) -> tuple[np.dtype, tuple[int, ...]] | None:
    """The dtype and shape of a record's decoded array, or None if it holds none."""
    if meta["decoded"] is None:
        return None
    return np.dtype(meta["decoded"]["dtype"]), tuple(meta["decoded"]["shape"])


def _result(meta: dict[str, Any], body: bytes) -> CodecResult:
    payload = body[: meta["payload_bytes"]]
    decoded = None
    array = _array_spec(meta)
    if array is not None:
        dtype, shape = array
        decoded = np.frombuffer(body, dtype, offset=len(payload)).reshape(shape).copy()
    bitstream = Bitstream(payload, extent_from_dict(meta["extent"]))
    return CodecResult(
        bitstream, decoded, meta["values"], meta["encode_s"], meta["decode_s"], meta["probes"]
    )


def _keep_prefix(file: Path, good: bytes) -> None:
    """Replace a damaged pack by its good records (none: remove it); another process's append
    racing with this is lost, and coded again when next asked for."""
    with contextlib.suppress(OSError):
        if not good:
            file.unlink(missing_ok=True)
            return
        tmp = file.with_name(f".tmp-{uuid.uuid4().hex}")
        tmp.write_bytes(good)
        os.replace(tmp, file)

"""Content-addressed cache of codec results, so re-scoring never re-encodes.

Key: hash of (item content hash, codec setting id, codec class version). An entry holds the exact
payload, its extent, the parameter values used, the original encode/decode timings and, when it is
a numpy array, the decoded item. Entries are written atomically and read without pickle.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
from pathlib import Path

import numpy as np

from mpq.core.codec import CodecResult, Setting
from mpq.core.errors import MpqError
from mpq.core.rate import Bitstream, extent_from_dict, extent_to_dict


class BitstreamCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(content_hash: str, setting: Setting, codec_version: str) -> str:
        text = json.dumps([content_hash, setting.id, codec_version])
        return hashlib.sha256(text.encode()).hexdigest()

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> CodecResult | None:
        file = self._file(key)
        if not file.exists():
            return None
        try:
            with np.load(file, allow_pickle=False) as entry:
                meta = json.loads(bytes(entry["meta"]).decode())
                payload = entry["payload"].tobytes()
                decoded = entry["decoded"] if "decoded" in entry.files else None
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            file.unlink(missing_ok=True)
            return None
        bitstream = Bitstream(payload, extent_from_dict(meta["extent"]))
        return CodecResult(
            bitstream, decoded, meta["values"], meta["encode_s"], meta["decode_s"], meta["probes"]
        )

    def put(self, key: str, result: CodecResult) -> None:
        meta = {
            "extent": extent_to_dict(result.bitstream.extent),
            "values": result.values,
            "encode_s": result.encode_s,
            "decode_s": result.decode_s,
            "probes": result.probes,
        }
        arrays = {
            "meta": np.frombuffer(json.dumps(meta, default=str).encode(), dtype=np.uint8),
            "payload": np.frombuffer(result.bitstream.payload, dtype=np.uint8),
        }
        if isinstance(result.decoded, np.ndarray):
            arrays["decoded"] = result.decoded
        file = self._file(key)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        tmp = file.with_name(f".tmp-{uuid.uuid4().hex}")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(buffer.getvalue())
            os.replace(tmp, file)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            raise MpqError(
                f"cannot write the bitstream cache {self.root} ({error.strerror or error}). The"
                " rows already stored are intact: free space there (or pass --no-cache or another"
                " --cache-dir) and run the same command again to resume."
            ) from error

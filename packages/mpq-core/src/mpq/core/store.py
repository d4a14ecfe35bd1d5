"""The run directory: a manifest and atomically written parquet parts.

Layout::

    RUN_DIR/manifest.json
    RUN_DIR/results/part-<seq>-<id>.parquet   one per completed batch
    RUN_DIR/.lock                             held by the one process writing the run

A part is written to a hidden temporary file, flushed to disk and renamed into place, so a part
either holds a whole batch or does not exist. Resuming skips exactly the (item_id, setting) keys
already stored. At the end of a run the parts are compacted into one; the compacted part lists the
parts it replaces, so a crash between writing it and deleting them cannot duplicate a row.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mpq.core.errors import RunStoreError, SchemaVersionError
from mpq.core.records import KEY_COLUMNS, SCHEMA_VERSION, rows_to_table

MANIFEST = "manifest.json"
RESULTS = "results"
TMP_PREFIX = ".tmp-"
REPLACES_KEY = b"mpq.replaces"
COMPACT_MARK = "-compact-"
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
# Manifest fields that identify what a run measures; a resume must not change them.
IDENTITY_FIELDS = ("task", "schema_version")


class RunStore:
    """Writes one run directory. Use `RunStore.open` and close it (or use it as a context)."""

    def __init__(self, path: Path, manifest: dict[str, Any], lock: Any) -> None:
        self.path = path
        self.manifest = manifest
        self._lock = lock
        self._seq = len(_part_paths(path))

    @classmethod
    def open(cls, path: str | Path, manifest: dict[str, Any]) -> RunStore:
        """Create the run, or resume it if `path` already holds the same run."""
        path = Path(path)
        try:
            (path / RESULTS).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunStoreError(f"cannot create run directory {path}: {error}") from error
        lock = _acquire_lock(path)
        if (path / MANIFEST).exists():
            manifest = _merged_manifest(path, read_manifest(path), manifest)
        for stale in (path / RESULTS).glob(f"{TMP_PREFIX}*"):
            stale.unlink()
        manifest["status"] = STATUS_RUNNING
        _write_json_atomic(path / MANIFEST, manifest)
        return cls(path, manifest, lock)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def done_keys(self) -> set[tuple[str, str]]:
        table = read_results(self.path, columns=list(KEY_COLUMNS))
        return set(zip(*(table.column(c).to_pylist() for c in KEY_COLUMNS), strict=True))

    def write(self, rows: list[Mapping[str, Any]]) -> Path | None:
        """Append rows as one new part; returns its path."""
        if not rows:
            return None
        self._seq += 1
        name = f"part-{self._seq:06d}-{uuid.uuid4().hex[:8]}.parquet"
        return _write_parquet_atomic(self.path / RESULTS / name, rows_to_table(rows))

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        _write_json_atomic(self.path / MANIFEST, self.manifest)

    def finish(self, compact: bool = True) -> None:
        """Mark the run complete, merging its parts into one."""
        if compact:
            self.compact()
        self.update_manifest(status=STATUS_COMPLETE, finished=_now())

    def compact(self) -> None:
        parts = _part_paths(self.path)
        if len(parts) < 2:
            return
        table = read_results(self.path)
        replaces = json.dumps([p.name for p in parts]).encode()
        metadata = {**(table.schema.metadata or {}), REPLACES_KEY: replaces}
        self._seq += 1
        name = f"part-{self._seq:06d}{COMPACT_MARK}{uuid.uuid4().hex[:8]}.parquet"
        _write_parquet_atomic(self.path / RESULTS / name, table.replace_schema_metadata(metadata))
        for part in parts:
            part.unlink(missing_ok=True)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def read_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_dir():
        raise RunStoreError(
            f"{path} is not a directory; give the folder a run was written to (--out)."
        )
    file = path / MANIFEST
    if not file.exists():
        raise RunStoreError(
            f"{path} is not an mpq run directory (no {MANIFEST}); give the folder passed to --out."
        )
    try:
        manifest = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise RunStoreError(
            f"{file} cannot be read ({error}); restore it or re-run into a new --out folder."
        ) from error
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(_version_message(str(file), version))
    return manifest


def read_results(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """All rows of a run as one table (columns missing from older parts are null)."""
    path = Path(path)
    tables = [_read_part(part, columns) for part in _part_paths(path)]
    if not tables:
        return rows_to_table([]).select(columns) if columns else rows_to_table([])
    table = pa.concat_tables(tables, promote_options="default")
    _check_unique(table, path)
    return table


def read_run(path: str | Path) -> tuple[dict[str, Any], pa.Table]:
    """The manifest and every row of a run directory."""
    manifest = read_manifest(path)
    return manifest, read_results(path)


def _read_part(part: Path, columns: list[str] | None) -> pa.Table:
    try:
        schema = pq.read_schema(part)
        version = (schema.metadata or {}).get(b"mpq.schema_version", b"?").decode()
        if version != str(SCHEMA_VERSION):
            raise SchemaVersionError(_version_message(str(part), version))
        return pq.read_table(part, columns=columns)
    except (pa.ArrowException, OSError) as error:
        raise RunStoreError(
            f"{part} is not a readable result part ({error}). mpq writes parts atomically, so it"
            " was damaged after it was written: move it out of results/ and resume the run with"
            " the same command to recompute its rows."
        ) from error


def _part_paths(path: Path) -> list[Path]:
    """Live parts: not temporary, and not replaced by a compacted part."""
    parts = sorted((path / RESULTS).glob("part-*.parquet"))
    replaced: set[str] = set()
    for part in (p for p in parts if COMPACT_MARK in p.name):
        with contextlib.suppress(pa.ArrowException, OSError):
            metadata = pq.read_schema(part).metadata or {}
            if REPLACES_KEY in metadata:
                replaced |= set(json.loads(metadata[REPLACES_KEY]))
    return [p for p in parts if p.name not in replaced]


def _check_unique(table: pa.Table, path: Path) -> None:
    keys = pc.binary_join_element_wise(
        *(table.column(c).cast(pa.string()) for c in KEY_COLUMNS), "\x1f"
    )
    if pc.count_distinct(keys).as_py() != len(keys):
        counts = pc.value_counts(keys)
        dupes = [v["values"].as_py() for v in counts if v["counts"].as_py() > 1][:3]
        shown = ", ".join(d.replace("\x1f", " @ ") for d in dupes)
        raise RunStoreError(
            f"{path} holds duplicated rows ({shown}); two processes wrote it at once. Re-run into"
            " a new --out folder."
        )


def _merged_manifest(path: Path, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    for field in IDENTITY_FIELDS:
        if old.get(field) != new.get(field):
            raise RunStoreError(
                f"{path} already holds a different run ({field}: {old.get(field)!r}, now"
                f" {new.get(field)!r}); choose another --out folder or delete that one."
            )
    merged = {**old, **new, "run_id": old["run_id"], "created": old["created"]}
    merged["codecs"] = list(dict.fromkeys(old.get("codecs", []) + new.get("codecs", [])))
    merged["metrics"] = {**old.get("metrics", {}), **new.get("metrics", {})}
    merged["resumed"] = old.get("resumed", 0) + 1
    return merged


def new_manifest(**fields: Any) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": uuid.uuid4().hex[:12],
        "created": _now(),
        "status": STATUS_RUNNING,
        **fields,
    }


def _acquire_lock(path: Path) -> Any:
    handle = open(path / ".lock", "w")  # noqa: SIM115 - held open for the run's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise RunStoreError(
            f"another mpq process is writing {path}; wait for it or choose another --out folder."
        ) from None
    return handle


def _write_parquet_atomic(target: Path, table: pa.Table) -> Path:
    tmp = target.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}.parquet")
    with open(tmp, "wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)
    return target


def _write_json_atomic(target: Path, data: dict[str, Any]) -> None:
    tmp = target.with_name(f"{TMP_PREFIX}{target.name}")
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _version_message(where: str, version: Any) -> str:
    return (
        f"{where} uses record schema version {version}, but this mpq-core reads version"
        f" {SCHEMA_VERSION}. Install the mpq-core release that wrote it, or re-run the sweep"
        " with this one into a new --out folder."
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

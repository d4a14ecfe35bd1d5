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
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from mpq.core.errors import RunStoreError, SchemaVersionError
from mpq.core.records import KEY_COLUMNS, SCHEMA_VERSION, arrow_array, rows_to_table

MANIFEST = "manifest.json"
RESULTS = "results"
TMP_PREFIX = ".tmp-"
REPLACES_KEY = b"mpq.replaces"
COMPACT_MARK = "-compact-"
STATUS_RUNNING = "running"
STATUS_COMPLETE = "complete"
STATUS_INTERRUPTED = "interrupted"  # stopped by Ctrl-C or SIGTERM; a killed run stays "running"
IDENTITY = "identity"
# Manifest fields that identify what a run measures; a resume must not change them.
IDENTITY_FIELDS = ("schema_version", "task", "task_config", "task_options", "metrics", "limit")


class RunStore:
    """Writes one run directory. Use `RunStore.open` and close it (or use it as a context)."""

    def __init__(self, path: Path, manifest: dict[str, Any], lock: Any) -> None:
        self.path = path
        self.manifest = manifest
        self._lock = lock
        self._seq = max((_seq_of(p) for p in (path / RESULTS).glob("part-*.parquet")), default=0)

    @classmethod
    def open(cls, path: str | Path, manifest: dict[str, Any]) -> RunStore:
        """Create the run, or resume it if `path` already holds the same run."""
        path = Path(path)
        try:
            (path / RESULTS).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunStoreError(f"cannot create run directory {path}: {error}") from error
        lock = _acquire_lock(path)
        manifest = {**manifest, IDENTITY: experiment_identity(manifest)}
        try:
            if (path / MANIFEST).exists():
                manifest = _merged_manifest(path, read_manifest(path), manifest)
            for stale in (path / RESULTS).glob(f"{TMP_PREFIX}*"):
                _remove(stale, path)
            for replaced in _replaced_parts(path):
                _remove(replaced, path)
            manifest["status"] = STATUS_RUNNING
            _write_json_atomic(path / MANIFEST, manifest, path)
        except BaseException:
            lock.close()
            raise
        return cls(path, manifest, lock)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def done_keys(self) -> set[tuple[str, str]]:
        return _keys(self.path)

    def write(self, rows: list[Mapping[str, Any]]) -> Path | None:
        """Append rows as one new part; returns its path."""
        if not rows:
            return None
        self._seq += 1
        name = f"part-{self._seq:06d}-{uuid.uuid4().hex[:8]}.parquet"
        return _write_parquet_atomic(self.path / RESULTS / name, rows_to_table(rows), self.path)

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        _write_json_atomic(self.path / MANIFEST, self.manifest, self.path)

    def finish(self, compact: bool = True) -> None:
        """Mark the run complete, merging its parts into one."""
        if compact:
            self.compact()
        self.update_manifest(status=STATUS_COMPLETE, finished=_now())

    def compact(self) -> None:
        """One part for all rows. It names every part file it replaces, live or already replaced,
        so whichever files a crash leaves behind, exactly the live rows stay visible."""
        files = sorted((self.path / RESULTS).glob("part-*.parquet"))
        if len(_part_paths(self.path)) < 2:
            return
        table = read_results(self.path)
        replaces = json.dumps([p.name for p in files]).encode()
        metadata = {**(table.schema.metadata or {}), REPLACES_KEY: replaces}
        self._seq += 1
        name = f"part-{self._seq:06d}{COMPACT_MARK}{uuid.uuid4().hex[:8]}.parquet"
        target = self.path / RESULTS / name
        _write_parquet_atomic(target, table.replace_schema_metadata(metadata), self.path)
        for part in files:
            _remove(part, self.path)

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def stored_keys(path: str | Path, manifest: dict[str, Any]) -> set[tuple[str, str]]:
    """The keys a resume of `manifest` into `path` would skip, checked like a resume but
    without writing anything (for a dry run)."""
    path = Path(path)
    if not (path / MANIFEST).exists():
        return set()
    _merged_manifest(path, read_manifest(path), manifest)
    return _keys(path)


def _keys(path: Path) -> set[tuple[str, str]]:
    table = read_results(path, columns=list(KEY_COLUMNS))
    return set(zip(*(table.column(c).to_pylist() for c in KEY_COLUMNS), strict=True))


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
        text = (schema.metadata or {}).get(b"mpq.schema_version", b"?").decode()
        version = int(text) if text.isdigit() else text
        if version != SCHEMA_VERSION:
            raise SchemaVersionError(_version_message(str(part), version))
        # ParquetFile, not pq.read_table: the latter loads pyarrow.dataset, which imports pandas.
        with pq.ParquetFile(part) as parquet:
            return parquet.read(columns=columns)
    except (pa.ArrowException, OSError) as error:
        raise RunStoreError(
            f"{part} is not a readable result part ({error}). mpq writes parts atomically, so it"
            " was damaged after it was written: move it out of results/ and resume the run with"
            " the same command to recompute its rows."
        ) from error


def _part_paths(path: Path) -> list[Path]:
    """Live parts: not temporary, and not replaced by a compacted part."""
    replaced = {p.name for p in _replaced_parts(path)}
    return [p for p in sorted((path / RESULTS).glob("part-*.parquet")) if p.name not in replaced]


def _replaced_parts(path: Path) -> list[Path]:
    """Part files that a compacted part replaces (left behind by a crash during compaction)."""
    parts = sorted((path / RESULTS).glob("part-*.parquet"))
    replaced: set[str] = set()
    for part in (p for p in parts if COMPACT_MARK in p.name):
        with contextlib.suppress(pa.ArrowException, OSError):
            metadata = pq.read_schema(part).metadata or {}
            if REPLACES_KEY in metadata:
                replaced |= set(json.loads(metadata[REPLACES_KEY])) - {part.name}
    return [p for p in parts if p.name in replaced]


def _seq_of(part: Path) -> int:
    digits = part.name.removeprefix("part-")[:6]
    return int(digits) if digits.isdigit() else 0


def _check_unique(table: pa.Table, path: Path) -> None:
    import pyarrow.compute as pc  # 50 ms, and only a run with stored parts needs it

    # The separator as an Arrow scalar: a Python one goes through pa.scalar, which imports pandas.
    separator = arrow_array(["\x1f"], pa.string())[0]
    keys = pc.binary_join_element_wise(
        *(table.column(c).cast(pa.string()) for c in KEY_COLUMNS), separator
    )
    if pc.count_distinct(keys).as_py() != len(keys):
        counts = pc.value_counts(keys)
        dupes = [v["values"].as_py() for v in counts if v["counts"].as_py() > 1][:3]
        shown = ", ".join(d.replace("\x1f", " @ ") for d in dupes)
        raise RunStoreError(
            f"{path} holds duplicated rows ({shown}); two processes wrote it at once. Re-run into"
            " a new --out folder."
        )


def experiment_identity(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What a run measures, as stored JSON: everything a resume must keep the same."""
    identity = {
        "schema_version": manifest.get("schema_version"),
        "task": manifest.get("task"),
        "task_config": manifest.get("task_config", {}),
        "task_options": manifest.get("task_options", {}),
        "metrics": sorted(manifest.get("metrics", {})),
        "limit": manifest.get("limit"),
    }
    return json.loads(json.dumps(identity, sort_keys=True, default=str))


def identity_difference(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """The identity fields that differ, as 'FIELD is A there, B now; ...', or None."""
    differences = []
    for field in IDENTITY_FIELDS:
        before, now = old.get(field), new.get(field)
        if isinstance(before, dict) and isinstance(now, dict):
            for key in sorted(set(before) | set(now)):
                if before.get(key) != now.get(key):
                    differences.append(f"{key} is {before.get(key)!r} there, {now.get(key)!r} now")
        elif before != now:
            differences.append(f"{field} is {before!r} there, {now!r} now")
    return "; ".join(differences) or None


def _merged_manifest(path: Path, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    difference = identity_difference(experiment_identity(old), experiment_identity(new))
    if difference is not None:
        raise RunStoreError(
            f"{path} already holds a different run ({difference}). A run directory holds one"
            " experiment; a resume may add codec settings and change how it runs, nothing else."
            " Give this one a new --out folder (or delete that one)."
        )
    changed = _changed_codec_versions(old.get("codec_versions", {}), new.get("codec_versions", {}))
    if changed:
        raise RunStoreError(
            f"{path} holds rows of another version of {changed}: its stored rows and new ones"
            " would mix two codecs under one name. Give this sweep a new --out folder (or delete"
            " that one)."
        )
    merged = {**old, **new, "run_id": old["run_id"], "created": old["created"]}
    merged["codecs"] = list(dict.fromkeys(old.get("codecs", []) + new.get("codecs", [])))
    # Per-codec facts of the codecs stored before stay, whatever codecs this sweep adds.
    for field in ("codec_versions", "codec_knobs"):
        merged[field] = {**old.get(field, {}), **new.get(field, {})}
    # `environment` stays the first sweep's (its command line, library versions); each resume's
    # own is kept after it, so the manifest says how every stored row was made.
    merged["environment"] = old.get("environment")
    merged["resumed_environments"] = [*old.get("resumed_environments", []), new.get("environment")]
    merged["resumed"] = old.get("resumed", 0) + 1
    return merged


def _changed_codec_versions(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """'CODEC (version A there, B now), ...' for the codecs both sweeps name, or None."""
    changed = [
        f"{name} (version {old[name]} there, {new[name]} now)"
        for name in sorted(old.keys() & new.keys())
        if old[name] != new[name]
    ]
    return ", ".join(changed) or None


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


def _write_parquet_atomic(target: Path, table: pa.Table, run: Path) -> Path:
    tmp = target.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}.parquet")
    with _writing(tmp, run):
        with open(tmp, "wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    return target


def _write_json_atomic(target: Path, data: dict[str, Any], run: Path) -> None:
    tmp = target.with_name(f"{TMP_PREFIX}{target.name}")
    with _writing(tmp, run):
        with open(tmp, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=True, default=str)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)


def _remove(file: Path, run: Path) -> None:
    with _writing(file, run):
        file.unlink(missing_ok=True)


@contextlib.contextmanager
def _writing(file: Path, run: Path) -> Iterator[None]:
    """An OS error while writing (disk full, permissions) as one line: the run stays intact."""
    try:
        yield
    except OSError as error:
        with contextlib.suppress(OSError):
            if file.name.startswith(TMP_PREFIX):
                file.unlink(missing_ok=True)
        raise RunStoreError(
            f"cannot write {file} ({error.strerror or error}). The rows already stored in {run}"
            " are intact: fix that (free disk space, say) and run the same command again to"
            " resume."
        ) from error


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _version_message(where: str, version: Any) -> str:
    if isinstance(version, int) and not isinstance(version, bool):
        return (
            f"{where} uses record schema version {version}, but this mpq-core reads version"
            f" {SCHEMA_VERSION}. Install the mpq-core release that wrote it, or re-run the sweep"
            " with this one into a new --out folder."
        )
    return (
        f"{where} has schema_version {version!r}, a {type(version).__name__} where mpq writes"
        f" the integer {SCHEMA_VERSION}: the file was edited or written by another program."
        " Restore it (schema_version must be a number), or re-run the sweep into a new --out"
        " folder."
    )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

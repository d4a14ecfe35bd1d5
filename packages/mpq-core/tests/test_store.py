import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mpq.core.errors import RunStoreError, SchemaVersionError
from mpq.core.records import SCHEMA_VERSION, rows_to_table
from mpq.core.store import (
    COMPACT_MARK,
    REPLACES_KEY,
    RESULTS,
    RunStore,
    new_manifest,
    read_manifest,
    read_results,
    read_run,
)


def rows(items, setting="jpeg:quality=5", **extra):
    return [
        {
            "schema_version": SCHEMA_VERSION,
            "item_id": i,
            "setting": setting,
            "status": "ok",
            "bytes": 10 * n,
            "stat.correct": float(n % 2),
            **extra,
        }
        for n, i in enumerate(items)
    ]


@pytest.fixture
def store(tmp_path):
    with RunStore.open(tmp_path / "run", new_manifest(task="t")) as s:
        yield s


def test_parts_are_written_whole_and_read_as_one_table(store):
    store.write(rows(["a", "b"]))
    store.write(rows(["c"], setting="none"))
    assert sorted(p.name.startswith("part-") for p in (store.path / RESULTS).iterdir()) == [
        True,
        True,
    ]
    manifest, table = read_run(store.path)
    assert manifest["task"] == "t"
    assert table.num_rows == 3
    assert table.column("bytes").to_pylist() == [0, 10, 0]
    assert store.done_keys() == {("a", "jpeg:quality=5"), ("b", "jpeg:quality=5"), ("c", "none")}


def test_vector_statistics_become_list_columns(store):
    store.write(rows(["a"], **{"stat.intersection": [1, 2, 3]}))
    table = read_results(store.path)
    assert pa.types.is_list(table.schema.field("stat.intersection").type)
    assert table.column("stat.intersection").to_pylist() == [[1.0, 2.0, 3.0]]


def test_leftover_temporary_files_are_ignored_and_cleaned(tmp_path):
    path = tmp_path / "run"
    with RunStore.open(path, new_manifest(task="t")) as s:
        s.write(rows(["a"]))
    junk = path / RESULTS / ".tmp-deadbeef.parquet"
    junk.write_bytes(b"half a parquet file")
    assert read_results(path).num_rows == 1
    with RunStore.open(path, new_manifest(task="t")):
        assert not junk.exists()


def test_resume_keeps_run_id_and_merges_codecs(tmp_path):
    path = tmp_path / "run"
    with RunStore.open(path, new_manifest(task="t", codecs=["none", "a"])) as s:
        first = s.manifest["run_id"]
        s.write(rows(["x"]))
    with RunStore.open(path, new_manifest(task="t", codecs=["none", "b"])) as s:
        assert s.manifest["run_id"] == first
        assert s.manifest["codecs"] == ["none", "a", "b"]
        assert s.manifest["resumed"] == 1
        assert s.done_keys() == {("x", "jpeg:quality=5")}


def test_resume_into_a_different_run_is_refused(tmp_path):
    path = tmp_path / "run"
    RunStore.open(path, new_manifest(task="t")).close()
    with pytest.raises(RunStoreError, match="already holds a different run"):
        RunStore.open(path, new_manifest(task="other"))


def test_second_writer_is_refused(store):
    with pytest.raises(RunStoreError, match="another mpq process is writing"):
        RunStore.open(store.path, new_manifest(task="t"))


def test_compaction_leaves_one_part_and_the_same_rows(store):
    for i in range(5):
        store.write(rows([f"i{i}"]))
    before = read_results(store.path).sort_by("item_id")
    store.finish()
    parts = list((store.path / RESULTS).glob("part-*"))
    assert len(parts) == 1 and COMPACT_MARK in parts[0].name
    assert read_results(store.path).sort_by("item_id").equals(before)
    assert read_manifest(store.path)["status"] == "complete"


def test_crash_between_compaction_and_cleanup_does_not_duplicate(store):
    store.write(rows(["a", "b"]))
    store.write(rows(["c"]))
    old = sorted((store.path / RESULTS).glob("part-*"))
    table = read_results(store.path)
    metadata = {**table.schema.metadata, REPLACES_KEY: json.dumps([p.name for p in old]).encode()}
    pq.write_table(
        table.replace_schema_metadata(metadata),
        store.path / RESULTS / f"part-000009{COMPACT_MARK}abc.parquet",
    )
    assert read_results(store.path).num_rows == 3  # the old parts are still on disk


def test_corrupted_part_names_the_file_and_the_fix(store):
    store.write(rows(["a"]))
    part = next((store.path / RESULTS).glob("part-*"))
    part.write_bytes(part.read_bytes()[:40])
    with pytest.raises(RunStoreError) as error:
        read_results(store.path)
    assert part.name in str(error.value)
    assert "resume the run" in str(error.value)


def test_schema_version_mismatch_in_part(store):
    table = rows_to_table(rows(["a"]))
    table = table.replace_schema_metadata({b"mpq.schema_version": b"99"})
    pq.write_table(table, store.path / RESULTS / "part-000001-x.parquet")
    with pytest.raises(SchemaVersionError, match="version 99"):
        read_results(store.path)


def test_schema_version_mismatch_in_manifest(tmp_path):
    path = tmp_path / "run"
    RunStore.open(path, new_manifest(task="t")).close()
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["schema_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaVersionError, match="Install the mpq-core release"):
        read_run(path)


@pytest.mark.parametrize("kind", ["missing", "file", "no_manifest", "bad_json"])
def test_unreadable_run_directories(tmp_path, kind):
    path = tmp_path / "run"
    if kind == "file":
        path.write_text("x")
    elif kind == "no_manifest":
        path.mkdir()
    elif kind == "bad_json":
        path.mkdir()
        (path / "manifest.json").write_text("{not json")
    with pytest.raises(RunStoreError, match=str(path.name)):
        read_run(path)


def test_duplicated_keys_are_detected(store):
    store.write(rows(["a"]))
    pq.write_table(rows_to_table(rows(["a"])), store.path / RESULTS / "part-000099-dup.parquet")
    with pytest.raises(RunStoreError, match="duplicated rows"):
        read_results(store.path)


def test_empty_run_reads_as_empty_table(store):
    assert read_results(store.path).num_rows == 0
    assert store.done_keys() == set()


def test_unknown_row_column_is_refused():
    with pytest.raises(ValueError, match="neither fixed"):
        rows_to_table([{"item_id": "a", "surprise": 1}])


def identity_manifest(**changes):
    fields = dict(
        task="t",
        task_config={"model": "A", "dataset": "d", "split": "validation"},
        task_options={},
        metrics={"psnr": {}},
        limit=None,
        codecs=["none", "jpeg:quality=5"],
    )
    return new_manifest(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"task_config": {"model": "B", "dataset": "d", "split": "validation"}}, "model"),
        ({"task_config": {"model": "A", "dataset": "e", "split": "validation"}}, "dataset"),
        ({"task_config": {"model": "A", "dataset": "d", "split": "test"}}, "split"),
        ({"task_options": {"label_key": "x"}}, "label_key"),
        ({"metrics": {"psnr": {}, "ssim": {}}}, "metrics"),
        ({"limit": 10}, "limit"),
    ],
)
def test_resume_with_another_experiment_is_refused_naming_the_field(tmp_path, changes, field):
    path = tmp_path / "run"
    with RunStore.open(path, identity_manifest()) as s:
        s.write(rows(["x"]))
    before = (path / "manifest.json").read_text()
    with pytest.raises(RunStoreError) as error:
        RunStore.open(path, identity_manifest(**changes))
    assert f"({field} is " in str(error.value)
    assert "new --out" in str(error.value)
    assert (path / "manifest.json").read_text() == before
    with RunStore.open(path, identity_manifest()):  # the refusal left the lock free
        pass


def test_resume_may_add_codec_settings_and_change_how_it_runs(tmp_path):
    path = tmp_path / "run"
    RunStore.open(path, identity_manifest(workers=2)).close()
    more = identity_manifest(codecs=["none", "webp:quality=5"], workers=0, batch_size=3)
    with RunStore.open(path, more) as s:
        assert s.manifest["codecs"] == ["none", "jpeg:quality=5", "webp:quality=5"]
        assert s.manifest["workers"] == 0
    identity = read_manifest(path)["identity"]
    assert identity["task_config"]["model"] == "A" and identity["metrics"] == ["psnr"]


def codec_manifest(codec, version, command):
    return identity_manifest(
        codecs=["none", f"{codec}:quality=5"],
        codec_versions={codec: version},
        codec_knobs={codec: "quality"},
        environment={"command": command, "versions": {"pillow": "11"}},
    )


def test_a_resume_adding_a_codec_keeps_the_stored_codecs_facts_and_command(tmp_path):
    # Reports draw a codec's curve from its knob: a resume adding webp once dropped jpeg's.
    path = tmp_path / "run"
    RunStore.open(path, codec_manifest("jpeg", "1", ["mpq", "jpeg"])).close()
    RunStore.open(path, codec_manifest("webp", "2", ["mpq", "webp"])).close()
    RunStore.open(path, codec_manifest("jpeg", "1", ["mpq", "jpeg", "again"])).close()
    manifest = read_manifest(path)
    assert manifest["codec_knobs"] == {"jpeg": "quality", "webp": "quality"}
    assert manifest["codec_versions"] == {"jpeg": "1", "webp": "2"}
    assert manifest["environment"]["command"] == ["mpq", "jpeg"]
    commands = [e["command"] for e in manifest["resumed_environments"]]
    assert commands == [["mpq", "webp"], ["mpq", "jpeg", "again"]]
    assert manifest["resumed"] == 2


def test_a_resume_with_another_version_of_a_stored_codec_is_refused(tmp_path):
    path = tmp_path / "run"
    with RunStore.open(path, codec_manifest("jpeg", "1", ["mpq"])) as s:
        s.write(rows(["x"]))
    before = (path / "manifest.json").read_text()
    with pytest.raises(RunStoreError) as error:
        RunStore.open(path, codec_manifest("jpeg", "2", ["mpq"]))
    assert "another version of jpeg (version 1 there, 2 now)" in str(error.value)
    assert "new --out" in str(error.value)
    assert (path / "manifest.json").read_text() == before


def test_dry_run_keys_read_nothing_into_being(tmp_path):
    from mpq.core.store import stored_keys

    path = tmp_path / "run"
    assert stored_keys(path, identity_manifest()) == set()
    assert not path.exists()
    with RunStore.open(path, identity_manifest()) as s:
        s.write(rows(["x"]))
    before = (path / "manifest.json").read_text()
    assert stored_keys(path, identity_manifest()) == {("x", "jpeg:quality=5")}
    with pytest.raises(RunStoreError, match="model is 'A' there, 'B' now"):
        stored_keys(
            path,
            identity_manifest(task_config={"model": "B", "dataset": "d", "split": "validation"}),
        )
    assert (path / "manifest.json").read_text() == before


class Crash(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


@pytest.fixture
def crash_at(monkeypatch):
    """Make the k-th file-system step (write, fsync, rename, delete) of the store crash."""
    import os
    from pathlib import Path

    steps = {"left": None}
    real = {"replace": os.replace, "fsync": os.fsync, "unlink": Path.unlink}

    def step():
        if steps["left"] is not None:
            if steps["left"] == 0:
                steps["left"] = None
                raise Crash
            steps["left"] -= 1

    def wrap(fn):
        def wrapped(*args, **kwargs):
            step()
            return fn(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(os, "replace", wrap(real["replace"]))
    monkeypatch.setattr(os, "fsync", wrap(real["fsync"]))
    monkeypatch.setattr(Path, "unlink", wrap(real["unlink"]))

    def arm(k):
        steps["left"] = k

    return arm


def test_a_crash_at_any_step_of_compaction_never_poisons_the_run(tmp_path, crash_at):
    arm = crash_at
    k = 0
    while True:
        path = tmp_path / f"run{k}"
        with RunStore.open(path, new_manifest(task="t")) as s:
            s.write(rows(["a", "b"]))
            s.write(rows(["c"]))
            s.write(rows(["a"], setting="none"))
        expected = {("a", "jpeg:quality=5"), ("b", "jpeg:quality=5"), ("c", "jpeg:quality=5")}
        expected.add(("a", "none"))
        s = RunStore.open(path, new_manifest(task="t"))
        arm(k)
        try:
            s.finish()
            completed = True
        except Crash:
            completed = False
        s.close()
        arm(None)
        assert read_results(path).num_rows == 4
        for more in ("d", "e"):  # resume, add rows, compact; twice
            with RunStore.open(path, new_manifest(task="t")) as resumed:
                assert resumed.done_keys() == expected
                resumed.write(rows([more]))
                resumed.finish()
            expected.add((more, "jpeg:quality=5"))
            table = read_results(path)
            keys = list(
                zip(table["item_id"].to_pylist(), table["setting"].to_pylist(), strict=True)
            )
            assert sorted(keys) == sorted(expected)
        assert len(list((path / RESULTS).glob("part-*"))) == 1
        if completed:
            break
        k += 1
    assert k >= 8  # every step of a compaction was crashed at: write, sync, rename, deletes


def test_disk_full_is_one_line_naming_the_run_and_the_resume(store, monkeypatch):
    import errno

    store.write(rows(["a"]))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(RunStoreError) as error:
        store.write(rows(["b"]))
    message = str(error.value)
    assert "No space left on device" in message and "run the same command again" in message
    assert not list((store.path / RESULTS).glob(".tmp-*"))
    monkeypatch.undo()
    assert store.done_keys() == {("a", "jpeg:quality=5")}


def test_a_string_schema_version_says_its_type(tmp_path):
    path = tmp_path / "run"
    RunStore.open(path, new_manifest(task="t")).close()
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["schema_version"] = str(SCHEMA_VERSION)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SchemaVersionError) as error:
        read_run(path)
    message = str(error.value)
    assert f"'{SCHEMA_VERSION}', a str where mpq writes the integer {SCHEMA_VERSION}" in message
    assert f"reads version {SCHEMA_VERSION}" not in message


def test_environment_records_core_and_the_plugins_libraries():
    from mpq.core.records import environment

    versions = environment(["pytest", "no-such-distribution-xyz"])["versions"]
    assert {"mpq-core", "numpy", "pyarrow", "pytest"} <= set(versions)
    assert "no-such-distribution-xyz" not in versions


def test_writing_and_reading_rows_does_not_import_pandas(tmp_path):
    """pa.array and pq.read_table import pandas (0.2 s) on first use; the store avoids both."""
    pytest.importorskip("pandas")
    code = f"""
import sys
from mpq.core.store import RunStore, new_manifest, read_results
with RunStore.open({str(tmp_path)!r}, new_manifest(task="t")) as store:
    store.write([{{"item_id": "a", "setting": "none", "bytes": 3, "metric.psnr": 30.5}}])
    store.write([{{"item_id": "b", "setting": "none", "stat.iou": [0.5, 1.0]}}])
    assert read_results({str(tmp_path)!r}).num_rows == 2
    store.compact()
rows = read_results({str(tmp_path)!r}).to_pylist()
assert sorted(r["item_id"] for r in rows) == ["a", "b"], rows
print("pandas" in sys.modules)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"]

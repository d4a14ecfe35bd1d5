import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from mpq.core.codec import Setting, apply_setting, parse_codec_spec
from mpq.core.engine import SweepConfig, run_sweep
from mpq.core.errors import MpqError, RunStoreError
from mpq.core.store import RESULTS, read_results, read_run
from mpq.core.task import Item
from mpq.core.testing import SMALL_PARTS, MeanAbsoluteError, SyntheticCodec, SyntheticTask

SYN = "python:mpq.core.testing:SyntheticCodec"
MAE = "python:mpq.core.testing:MeanAbsoluteError"
STABLE = ["item_id", "setting", "status", "bytes", "bpp", "codec_params", "stat.correct",
          "stat.agree", "metric.mae", "prediction", "error"]  # fmt: skip


def config(specs=(f"{SYN}:quality=5,60",), **kw):
    defaults = dict(metrics=[MAE], batch_size=4, cache_dir=None, progress=False)
    settings = [s for spec in specs for s in parse_codec_spec(spec)]
    return SweepConfig(settings=settings, **{**defaults, **kw})


def stable(path):
    return (
        read_results(path)
        .select(STABLE)
        .sort_by([("item_id", "ascending"), ("setting", "ascending")])
    )


def test_sweep_rows_rates_and_metrics(tmp_path):
    task = SyntheticTask(items=10, broken="3")
    summary = run_sweep(task, tmp_path / "run", config())
    manifest, table = read_run(tmp_path / "run")
    assert manifest["status"] == "complete"
    assert manifest["scores"]["accuracy"]["aggregator"] == "mean"
    assert manifest["metrics"]["mae"]["higher_is_better"] is False
    assert manifest["codec_knobs"] == {SYN: "quality"}
    assert manifest["device"] == "cpu"
    assert (summary.written, summary.failed) == (27, 3)
    assert table.num_rows == 30
    rows = {(r["item_id"], r["setting"]): r for r in table.to_pylist()}
    broken = rows[("img00003", f"{SYN}:quality=5")]
    assert broken["status"] == "failed" and "cannot identify image" in broken["error"]
    images = {item.id: item.data for item in SyntheticTask(items=10).items()}
    for (item_id, setting), row in rows.items():
        if row["status"] != "ok":
            continue
        if setting == "none":
            assert row["bytes"] is None and row["stat.agree"] == 1.0
            assert row["metric.mae"] is None
            continue
        assert row["bpp"] == 8 * row["bytes"] / row["pixels"]
        assert row["pixels"] == 24 * 25
        quality = int(setting.rsplit("=", 1)[1])
        again = apply_setting(
            SyntheticCodec, Setting(SYN, (("quality", quality),)), images[item_id]
        )
        assert row["bytes"] == len(again.bitstream.payload)
        diff = np.abs(again.decoded.astype(int) - images[item_id].astype(int)).mean()
        assert row["metric.mae"] == pytest.approx(diff)
        assert row["stat.correct"] == float(
            (again.decoded.mean() > 127) == (images[item_id].mean() > 127)
        )


def test_workers_give_the_same_rows_as_in_process(tmp_path):
    run_sweep(SyntheticTask(items=9), tmp_path / "a", config(workers=0))
    run_sweep(SyntheticTask(items=9), tmp_path / "b", config(workers=2))
    assert stable(tmp_path / "a").equals(stable(tmp_path / "b"))


BESIDE = "python:mpq.core.testing:BesideMeanAbsoluteError"


@pytest.mark.parametrize("workers", [0, 2])
def test_metrics_beside_the_codec_equal_those_in_the_sweep_and_time_each_row(tmp_path, workers):
    run_sweep(
        SyntheticTask(items=5), tmp_path / "r", config(metrics=[MAE, BESIDE], workers=workers)
    )
    rows = read_results(tmp_path / "r").to_pylist()
    for row in rows:
        assert row["metric.mae-beside"] == row["metric.mae"]
        if row["setting"] == "none":
            assert row["metric_s"] is None
        else:
            assert row["metric.mae"] > 0 and row["metric_s"] > 0
    assert {r["metric_s"] for r in read_results(run_without_metrics(tmp_path)).to_pylist()} == {
        None
    }


def run_without_metrics(tmp_path):
    run_sweep(SyntheticTask(items=2), tmp_path / "plain", config(metrics=[]))
    return tmp_path / "plain"


def test_codec_failure_is_a_row_and_the_sweep_goes_on(tmp_path):
    specs = (f"{SYN}:quality=50:fail_above=200", f"{SYN}:quality=50")
    run_sweep(SyntheticTask(items=6), tmp_path / "run", config(specs, workers=1))
    table = read_results(tmp_path / "run").to_pylist()
    too_bright = {item.id for item in SyntheticTask(items=6).items() if item.data.max() > 200}
    assert 0 < len(too_bright) < 6
    for row in table:
        if "fail_above" in row["setting"] and row["item_id"] in too_bright:
            assert row["status"] == "failed" and "exceeds fail_above" in row["error"]
        else:
            assert row["status"] == "ok"


def test_rate_target_rows_record_the_chosen_parameter(tmp_path):
    run_sweep(SyntheticTask(items=4), tmp_path / "run", config((f"{SYN}:bpp=4",)))
    rows = [r for r in read_results(tmp_path / "run").to_pylist() if r["setting"] != "none"]
    assert {r["setting"] for r in rows} == {f"{SYN}:bpp=4"}
    for row in rows:
        assert row["target_unit"] == "bpp" and row["target_value"] == 4.0
        assert row["bpp"] <= 4.0 and row["probes"] > 1
        assert '"quality": ' in row["codec_params"]


def test_warm_cache_skips_the_codec(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    run_sweep(SyntheticTask(items=6), tmp_path / "cold", config(cache_dir=cache))

    def refuse(self, data):
        raise AssertionError("encode called on a warm cache")

    monkeypatch.setattr(SyntheticCodec, "encode", refuse)
    run_sweep(SyntheticTask(items=6), tmp_path / "warm", config(cache_dir=cache))
    warm = read_results(tmp_path / "warm")
    hits = [r["cache_hit"] for r in warm.to_pylist() if r["setting"] != "none"]
    assert hits and all(hits)
    assert stable(tmp_path / "cold").equals(stable(tmp_path / "warm"))


class FlakyMemoryTask(SyntheticTask):
    def predict(self, batch):
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().predict(batch)


def test_out_of_memory_halves_the_batch(tmp_path):
    summary = run_sweep(FlakyMemoryTask(items=5), tmp_path / "run", config(batch_size=8))
    assert summary.batch_size == 2
    assert summary.written == 15 and summary.failed == 0


class InterruptedTask(SyntheticTask):
    calls = 0

    def predict(self, batch):
        InterruptedTask.calls += 1
        if InterruptedTask.calls == 4:
            raise KeyboardInterrupt
        return super().predict(batch)


class TerminatedTask(SyntheticTask):
    """Sent SIGTERM (as `timeout` or a batch scheduler sends it) in its fourth batch."""

    calls = 0

    def predict(self, batch):
        TerminatedTask.calls += 1
        if TerminatedTask.calls == 4:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().predict(batch)


@pytest.mark.parametrize("stopped", [InterruptedTask, TerminatedTask])
def test_interrupt_keeps_finished_batches_and_resume_completes(tmp_path, stopped):
    stopped.calls = 0
    summary = run_sweep(stopped(items=8), tmp_path / "run", config())
    assert summary.interrupted
    assert read_results(tmp_path / "run").num_rows == summary.written == 12
    assert read_run(tmp_path / "run")[0]["status"] == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is put back
    resumed = run_sweep(SyntheticTask(items=8), tmp_path / "run", config())
    assert resumed.skipped == 12 and resumed.written == 12
    assert read_run(tmp_path / "run")[0]["status"] == "complete"
    run_sweep(SyntheticTask(items=8), tmp_path / "ref", config())
    assert stable(tmp_path / "run").equals(stable(tmp_path / "ref"))


def test_dry_run_computes_nothing(tmp_path):
    summary = run_sweep(SyntheticTask(items=5), tmp_path / "run", config(dry_run=True))
    assert summary.written == 0 and read_results(tmp_path / "run").num_rows == 0


class DuplicateTask(SyntheticTask):
    def items(self):
        for item in super().items():
            yield Item("same", item.data, item.target)


def test_duplicate_item_ids_are_refused(tmp_path):
    with pytest.raises(MpqError, match="twice"):
        run_sweep(DuplicateTask(items=3), tmp_path / "run", config())


def test_unreachable_targets_fail_per_item(tmp_path):
    run_sweep(SyntheticTask(items=3), tmp_path / "run", config((f"{SYN}:bpp=0.001",)))
    rows = [r for r in read_results(tmp_path / "run").to_pylist() if r["setting"] != "none"]
    assert all(r["status"] == "failed" and "TargetUnreachable" in r["error"] for r in rows)


def _cli(out, cache=None):
    cmd = [
        sys.executable,
        "-c",
        SMALL_PARTS,
        "run",
        "--task",
        "python:mpq.core.testing:SyntheticTask",
        "--option",
        "items=48",
        "--option",
        "model_ms=150",
        "--codec",
        f"{SYN}:quality=5,60",
        "--metric",
        MAE,
        "--batch-size",
        "4",
        "--workers",
        "1",
        "--no-progress",
        "--out",
        str(out),
    ]
    cmd += ["--no-cache"] if cache is None else ["--cache-dir", str(cache)]
    return cmd


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_gives_each_row_once(tmp_path):
    out = tmp_path / "killed"
    process = subprocess.Popen(_cli(out), start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / RESULTS).glob("part-*"))) < 3:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = read_results(out).num_rows
    assert 0 < partial < 48 * 3
    subprocess.run(_cli(out), check=True)
    subprocess.run(_cli(tmp_path / "clean"), check=True)
    resumed, clean = stable(out), stable(tmp_path / "clean")
    assert resumed.num_rows == 48 * 3
    keys = list(
        zip(
            resumed.column("item_id").to_pylist(),
            resumed.column("setting").to_pylist(),
            strict=True,
        )
    )
    assert len(set(keys)) == len(keys)
    assert resumed.equals(clean)
    assert read_run(out)[0]["resumed"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_exits_130_keeps_rows_and_resumes(tmp_path, signum):
    # Sent to the whole process group, codec workers included, as a terminal's Ctrl-C and a
    # batch scheduler's SIGTERM are.
    out = tmp_path / "interrupted"
    process = subprocess.Popen(_cli(out), start_new_session=True, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / RESULTS).glob("part-*"))) < 2:
        time.sleep(0.05)
    os.killpg(process.pid, signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "run the same command again to resume" in stderr
    stored = read_results(out).num_rows
    assert 0 < stored < 48 * 3
    subprocess.run(_cli(out), check=True)
    assert read_results(out).num_rows == 48 * 3


class PickyMetric(MeanAbsoluteError):
    """Undefined for bright items, like MS-SSIM for small ones."""

    name = "picky"

    def compute(self, references, decoded):
        if any(r.mean() > 127 for r in references):
            raise ValueError("too bright")
        return super().compute(references, decoded)


def test_a_metric_undefined_for_some_items_is_nan_there_and_the_sweep_goes_on(
    tmp_path, monkeypatch
):
    from mpq.core import registry

    monkeypatch.setitem(registry.metrics._registered, "picky", PickyMetric)
    run_sweep(SyntheticTask(items=8), tmp_path / "run", config(metrics=["picky"]))
    rows = [r for r in read_results(tmp_path / "run").to_pylist() if r["setting"] != "none"]
    images = {item.id: item.data for item in SyntheticTask(items=8).items()}
    assert all(r["status"] == "ok" for r in rows)
    for row in rows:
        bright = images[row["item_id"]].mean() > 127
        assert np.isnan(row["metric.picky"]) == bright
    assert any(np.isnan(r["metric.picky"]) for r in rows)
    assert any(not np.isnan(r["metric.picky"]) for r in rows)


class OtherModelTask(SyntheticTask):
    def describe(self):
        return {**super().describe(), "model": "darkness"}


def test_resume_with_another_model_or_dataset_is_refused(tmp_path):
    out = tmp_path / "run"
    run_sweep(SyntheticTask(items=4), out, config())
    before = stable(out)
    with pytest.raises(MpqError, match="model is 'brightness' there, 'darkness' now"):
        run_sweep(OtherModelTask(items=4), out, config())
    with pytest.raises(MpqError, match="dataset is 'synthetic-4x24-seed0' there"):
        run_sweep(SyntheticTask(items=4, seed=1), out, config())
    with pytest.raises(MpqError, match="limit is None there, 2 now"):
        run_sweep(SyntheticTask(items=4), out, config(limit=2))
    assert stable(out).equals(before)
    manifest = read_run(out)[0]
    assert manifest["task_config"]["model"] == "brightness" and manifest["status"] == "complete"
    more = run_sweep(SyntheticTask(items=4), out, config((f"{SYN}:quality=5,60,90",)))
    assert (more.written, more.skipped) == (4, 12)


class NoModelTask(SyntheticTask):
    def setup(self, device, amp):
        raise AssertionError("a dry run must not load the model")


def test_dry_run_writes_nothing_and_loads_no_model(tmp_path, capsys):
    out = tmp_path / "run"
    run_sweep(NoModelTask(items=3), out, config(dry_run=True))
    assert not out.exists()
    assert "9 to compute" in capsys.readouterr().err
    run_sweep(SyntheticTask(items=3), out, config())
    manifest = (out / "manifest.json").read_text()
    more = config((f"{SYN}:quality=5,60,90",), dry_run=True)
    run_sweep(NoModelTask(items=3), out, more)
    assert "9 already stored" in capsys.readouterr().err
    assert (out / "manifest.json").read_text() == manifest


class AudioCodec(SyntheticCodec):
    name = "python:test_engine:AudioCodec"
    modality = "audio"


class AudioMetric(MeanAbsoluteError):
    name = "audio-mae"
    modality = "audio"


@pytest.mark.parametrize("kind", ["codec", "metric"])
def test_plugins_of_another_modality_are_refused_before_any_work(tmp_path, monkeypatch, kind):
    from mpq.core import registry

    monkeypatch.setitem(registry.codecs._registered, "audio-codec", AudioCodec)
    monkeypatch.setitem(registry.metrics._registered, "audio-mae", AudioMetric)
    cfg = config(("audio-codec:quality=5",)) if kind == "codec" else config(metrics=["audio-mae"])
    with pytest.raises(MpqError) as error:
        run_sweep(SyntheticTask(items=2), tmp_path / "run", cfg)
    assert f"{kind} 'audio-{kind if kind == 'codec' else 'mae'}' is for audio" in str(error.value)
    assert "works on image" in str(error.value)
    assert not (tmp_path / "run").exists()


class PartlyLabelledTask(SyntheticTask):
    def items(self):
        for n, item in enumerate(super().items()):
            yield Item(item.id, item.data, None if n % 2 else item.target)


def test_items_without_reference_are_announced_and_counted(tmp_path, capsys):
    run_sweep(PartlyLabelledTask(items=6), tmp_path / "run", config())
    err = capsys.readouterr().err
    assert "Item 'img00001' has no reference" in err and "(of 6 items)" in err
    assert "accuracy" in err
    assert "3 items of this sweep had no reference" in err
    assert read_run(tmp_path / "run")[0]["items_without_reference"] == 3


def _children(pid):
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_codec_workers_end_when_the_main_process_is_killed(tmp_path):
    cmd = _cli(tmp_path / "run")
    cmd[cmd.index(f"{SYN}:quality=5,60")] = f"{SYN}:quality=5,60:cost_ms=400"
    cmd[cmd.index("--workers") + 1] = "2"
    process = subprocess.Popen(cmd, start_new_session=True)
    deadline = time.time() + 60
    workers = []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.1)
        workers = [p for p in _children(process.pid) if "spawn" in _cmdline(p)]
    assert len(workers) == 2
    process.kill()  # the main process only, as kill -9 PID does
    process.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(p) for p in workers):
        time.sleep(0.1)
    assert not any(_alive(p) for p in workers)


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_any_loader_exception_is_a_failed_row_and_the_sweep_goes_on(tmp_path):
    from mpq.core.files import FileItems

    images = {item.id: item.data for item in SyntheticTask(items=3).items()}

    def load(path):
        if path.name == "img00001":
            raise RecursionError("the decoder fell over")
        return images[path.name]

    files = [tmp_path / name for name in images]
    run_sweep(FileItems("image", [tmp_path], files, load), tmp_path / "run", config())
    rows = {
        (Path(r["item_id"]).name, r["setting"]): r
        for r in read_results(tmp_path / "run").to_pylist()
    }
    assert len(rows) == 9
    bad = rows[("img00001", "none")]
    assert bad["status"] == "failed" and bad["error"] == "RecursionError: the decoder fell over"
    assert rows[("img00002", f"{SYN}:quality=5")]["status"] == "ok"


def file_items(folder, names=("img00000", "img00001", "img00002")):
    from mpq.core.files import FileItems
    from mpq.core.testing import load_synthetic_file

    folder.mkdir(exist_ok=True)
    return FileItems("image", [folder], [folder / n for n in names], load_synthetic_file)


def readers(folder):
    """{file name: {pid: reads}} from load_synthetic_file's markers."""
    found = {}
    for marker in folder.glob("*.read-by-*"):
        name, pid = marker.name.split(".read-by-")
        found.setdefault(name, {})[int(pid)] = len(marker.read_text().splitlines())
    return found


def sorted_rows(run):
    rows = read_results(run).to_pylist()
    return sorted(rows, key=lambda r: (Path(r["item_id"]).name, r["setting"]))


@pytest.mark.parametrize("workers", [0, 1])
def test_files_are_read_hashed_and_cached_where_they_are_coded(tmp_path, workers):
    """With only metrics beside the codec nothing here needs a file's pixels: the worker reads
    each file once and looks its settings up in the cache itself; keys agree with a sweep that
    reads files here (a deep metric needs the decoded images back)."""
    cache = tmp_path / "cache"
    beside = config(metrics=[BESIDE], workers=workers, cache_dir=cache)
    run_sweep(file_items(tmp_path / "a"), tmp_path / "a-run", beside)
    read = readers(tmp_path / "a")
    assert set(read) == {"img00000", "img00001", "img00002"}
    assert all(list(pids.values()) == [1] for pids in read.values())
    assert all((os.getpid() in pids) == (workers == 0) for pids in read.values())
    here = config(metrics=[MAE, BESIDE], workers=workers, cache_dir=cache)
    run_sweep(file_items(tmp_path / "b"), tmp_path / "b-run", here)
    assert all(list(pids) == [os.getpid()] for pids in readers(tmp_path / "b").values())
    first, again = (sorted_rows(tmp_path / f"{r}-run") for r in "ab")
    assert [r["cache_hit"] for r in first] == [
        None if r["setting"] == "none" else False for r in first
    ]
    assert [r["cache_hit"] for r in again] == [
        None if r["setting"] == "none" else True for r in again
    ]
    for cold, warm in zip(first, again, strict=True):
        assert (cold["setting"], cold["bytes"]) == (warm["setting"], warm["bytes"])
        assert cold["metric.mae-beside"] == warm["metric.mae"] == warm["metric.mae-beside"]
    run_sweep(file_items(tmp_path / "a"), tmp_path / "c-run", beside)
    assert {r["cache_hit"] for r in read_results(tmp_path / "c-run").to_pylist()} == {None, True}


def test_a_file_unreadable_where_it_is_coded_fails_all_its_rows(tmp_path):
    items = file_items(tmp_path / "in", ("img00000", "img00001-broken"))
    run_sweep(items, tmp_path / "run", config(metrics=[BESIDE], workers=1))
    rows = {
        (Path(r["item_id"]).name, r["setting"]): r
        for r in read_results(tmp_path / "run").to_pylist()
    }
    assert len(rows) == 6
    broken = [r for (name, _), r in rows.items() if name.endswith("broken")]
    assert {r["status"] for r in broken} == {"failed"}
    assert {r["error"] for r in broken} == {
        f"OSError: cannot identify image file {str(tmp_path / 'in' / 'img00001-broken')!r}"
    }
    assert {r["status"] for (name, _), r in rows.items() if name == "img00000"} == {"ok"}


def test_the_manifest_records_the_libraries_plugins_declare(tmp_path, monkeypatch):
    from mpq.core.store import read_manifest
    from mpq.core.testing import SyntheticCodec

    monkeypatch.setattr(SyntheticCodec, "libraries", ("pytest",))
    run_sweep(SyntheticTask(items=2), tmp_path / "run", config(workers=0))
    versions = read_manifest(tmp_path / "run")["environment"]["versions"]
    assert {"mpq-core", "numpy", "pyarrow", "pytest"} <= set(versions)


class BatchingCodec(SyntheticCodec):
    """The synthetic codec, declared as coding batches; records each batch's size."""

    name = "python:test_engine:BatchingCodec"
    batches = True
    sizes: ClassVar[list[int]] = []

    def encode_batch(self, items):
        type(self).sizes.append(len(items))
        return super().encode_batch(items)


def test_a_batching_codec_gets_model_batches_and_gives_the_same_rows(tmp_path, monkeypatch):
    from mpq.core import registry

    monkeypatch.setitem(registry.codecs._registered, "batching", BatchingCodec)
    monkeypatch.setattr(BatchingCodec, "name", "batching")
    BatchingCodec.sizes.clear()
    specs = ("batching:quality=5,60:fail_above=200",)
    run_sweep(SyntheticTask(items=9), tmp_path / "batched", config(specs, workers=2))
    assert max(BatchingCodec.sizes) == 4  # the model's batch size, not one at a time
    plain = (f"{SYN}:quality=5,60:fail_above=200",)
    run_sweep(SyntheticTask(items=9), tmp_path / "plain", config(plain, workers=0))

    def keyed(path):
        rows = stable(path).to_pylist()
        return {(r["item_id"], r["setting"].replace("batching", SYN)): r for r in rows}

    batched, single = keyed(tmp_path / "batched"), keyed(tmp_path / "plain")
    assert batched.keys() == single.keys()
    for key, row in batched.items():
        assert {**row, "setting": None} == {**single[key], "setting": None}
    assert any(row["status"] == "failed" for row in batched.values())  # the too-bright items


@pytest.mark.parametrize("workers", [0, 1])
def test_a_cache_that_cannot_be_written_stops_the_sweep_saying_so(tmp_path, workers):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    with pytest.raises(RunStoreError, match="cannot write the bitstream cache"):
        run_sweep(
            SyntheticTask(items=3), tmp_path / "r", config(cache_dir=blocked, workers=workers)
        )


def test_default_workers_one_per_core_no_more_than_items_and_none_on_one_core(monkeypatch):
    from mpq.core import codec_pool

    monkeypatch.setattr(codec_pool.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert [codec_pool.default_workers(n) for n in (None, 9, 2, 1)] == [4, 4, 2, 0]
    monkeypatch.setattr(codec_pool.os, "sched_getaffinity", lambda pid: {0})
    assert codec_pool.default_workers() == 0


def test_unset_workers_are_resolved_for_the_task_and_recorded(tmp_path):
    from mpq.core.codec_pool import default_workers

    run_sweep(SyntheticTask(items=2), tmp_path / "r", config(workers=None))
    assert read_run(tmp_path / "r")[0]["workers"] == default_workers(2)

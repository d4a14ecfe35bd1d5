"""The Ray backend: the same rows as the local engine, resumable by either, and fault tolerant.

Ray starts once for the module (two CPUs); the multi-node test, last, starts a simulated
two-node cluster instead. Every comparison is key for key and value for value against the local
engine on the same sweep, ignoring the run id and the timings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from mpq.core import sweep_writer
from mpq.core.codec import parse_codec_spec
from mpq.core.engine import SweepConfig, run_sweep
from mpq.core.errors import MpqError
from mpq.core.store import RESULTS, read_results, read_run
from mpq.core.sweep_codec import WORKER_DIED
from mpq.core.testing import SMALL_PARTS, SyntheticTask

SYN = "python:mpq.core.testing:SyntheticCodec"
TASK = "python:mpq.core.testing:SyntheticTask"
MAE = "python:mpq.core.testing:MeanAbsoluteError"
VARYING = {"run_id", "encode_s", "decode_s", "predict_s", "metric_s"}
SPECS = (f"{SYN}:quality=5,60",)

needs_ray = pytest.mark.skipif(find_spec("ray") is None, reason="needs ray (mpq-core[ray])")


def config(specs=SPECS, **kw):
    defaults = dict(metrics=[MAE], batch_size=4, cache_dir=None, progress=False)
    settings = [s for spec in specs for s in parse_codec_spec(spec)]
    return SweepConfig(settings=settings, **{**defaults, **kw})


def rows(path: Path) -> dict[tuple[str, str], dict]:
    """Every row by key; read_results refuses a run with a key stored twice."""
    table = read_results(path)
    out = {
        (r["item_id"], r["setting"]): {k: v for k, v in r.items() if k not in VARYING}
        for r in table.to_pylist()
    }
    assert len(out) == table.num_rows
    return out


def without_cache_hits(stored: dict) -> dict:
    return {key: {**row, "cache_hit": None} for key, row in stored.items()}


def local_rows(tmp_path: Path, task: SyntheticTask, specs=SPECS) -> dict:
    run_sweep(task, tmp_path / "local", config(specs))
    return rows(tmp_path / "local")


CRASHING = '''
import os, signal
from mpq.core.testing import SyntheticCodec


class CrashingCodec(SyntheticCodec):
    """Kills its process on every encode, as a codec that segfaults or runs out of memory."""

    def encode(self, data):
        os.kill(os.getpid(), signal.SIGKILL)
'''


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """Ray for the module; its workers (and their codec processes) can import `crashing_codec`,
    written to a folder put on their PYTHONPATH before Ray starts."""
    import ray

    folder = tmp_path_factory.mktemp("plugins")
    (folder / "crashing_codec.py").write_text(textwrap.dedent(CRASHING))
    sys.path.insert(0, str(folder))
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), path) if p)
    try:
        ray.init(num_cpus=2, include_dashboard=False)
    finally:
        os.environ.pop("PYTHONPATH") if path is None else os.environ.update(PYTHONPATH=path)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    sys.path.remove(str(folder))


def test_backend_ray_without_ray_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "mpq.core.ray_sweep", raising=False)
    with pytest.raises(MpqError, match=r"pip install 'mpq-core\[ray\]'"):
        run_sweep(SyntheticTask(items=2), tmp_path / "run", config(backend="ray"))
    assert not (tmp_path / "run").exists()
    # The local engine never needs Ray.
    assert run_sweep(SyntheticTask(items=2), tmp_path / "run", config()).written == 6


@needs_ray
@pytest.mark.slow
def test_ray_rows_equal_the_local_engine(tmp_path, local_ray):
    task = SyntheticTask(items=12, broken="3")
    summary = run_sweep(task, tmp_path / "ray", config(backend="ray"))
    manifest, _ = read_run(tmp_path / "ray")
    assert manifest["status"] == "complete" and manifest["device"] == "cpu"
    assert (summary.written, summary.failed, summary.skipped) == (33, 3, 0)
    expected = local_rows(tmp_path, task)
    assert rows(tmp_path / "ray") == expected
    failed = expected[("img00003", f"{SYN}:quality=5")]
    assert failed["status"] == "failed" and "cannot identify image" in failed["error"]


@needs_ray
@pytest.mark.slow
def test_ray_uses_the_bitstream_cache(tmp_path, local_ray):
    task = SyntheticTask(items=6)
    cache = tmp_path / "cache"
    run_sweep(task, tmp_path / "first", config(backend="ray", cache_dir=cache))
    run_sweep(task, tmp_path / "second", config(backend="ray", cache_dir=cache))
    first, second = rows(tmp_path / "first"), rows(tmp_path / "second")
    compressed = [key for key in first if key[1] != "none"]
    assert len(compressed) == 12
    assert all(first[k]["cache_hit"] is False for k in compressed)
    assert all(second[k]["cache_hit"] is True for k in compressed)
    assert without_cache_hits(first) == without_cache_hits(second)
    assert not list(cache.glob(".node-probe-*"))


@needs_ray
@pytest.mark.slow
def test_either_backend_resumes_the_other(tmp_path, local_ray):
    task = SyntheticTask(items=8, broken="2")
    more = (f"{SYN}:quality=5,60,90",)
    expected = local_rows(tmp_path, task, more)
    for first, then in (("ray", "local"), ("local", "ray")):
        out = tmp_path / f"{first}-then-{then}"
        run_sweep(task, out, config(backend=first))
        summary = run_sweep(task, out, config(more, backend=then))
        assert (summary.written, summary.failed, summary.skipped) == (7, 1, 24)
        assert rows(out) == expected
        assert read_run(out)[0]["resumed"] == 1


@needs_ray
@pytest.mark.slow
def test_a_codec_that_kills_its_process_fails_its_rows_like_locally(tmp_path, local_ray):
    task = SyntheticTask(items=3)
    specs = (f"{SYN}:quality=60", "python:crashing_codec:CrashingCodec")
    summary = run_sweep(task, tmp_path / "ray", config(specs, backend="ray"))
    assert (summary.written, summary.failed) == (6, 3)
    stored = rows(tmp_path / "ray")
    failed = {key: r["error"] for key, r in stored.items() if r["status"] == "failed"}
    assert failed == {(f"img0000{i}", specs[1]): WORKER_DIED for i in range(3)}
    # A crashed job is retried alone, so no other row goes down with it.
    fine = {key: r for key, r in stored.items() if key[1] != specs[1]}
    assert fine == local_rows(tmp_path, task, specs[:1])


@needs_ray
def test_a_node_that_does_not_see_the_cache_folder_codes_without_it(tmp_path):
    from mpq.core.ray_sweep import _node_cache, _Work

    def work(probe: Path) -> _Work:
        return _Work(SyntheticTask(), None, set(), {}, False, 4, "cpu", 0, tmp_path, probe, None)

    (tmp_path / "probe").touch()
    warnings: list[str] = []
    assert _node_cache(work(tmp_path / "probe"), warnings).root == tmp_path
    assert _node_cache(work(tmp_path / "elsewhere"), warnings) is None
    assert len(warnings) == 1 and f"bitstream cache {tmp_path} is not on storage" in warnings[0]


def processes(title: str) -> list[int]:
    """Pids whose command line (Ray sets it to ``ray::NAME`` for its workers) holds `title`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and title in (entry / "cmdline").read_text():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_once_stored(run: Path, titles: tuple[str, ...]) -> list[str]:
    """In the background, once the first part is stored, SIGKILL one process of each title."""
    killed: list[str] = []

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((run / RESULTS).glob("part-*.parquet")):
            time.sleep(0.01)
        for title in titles:
            for pid in processes(title)[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(title)

    threading.Thread(target=watch, daemon=True).start()
    return killed


@needs_ray
@pytest.mark.slow
def test_killed_workers_cost_no_row_and_no_duplicate(tmp_path, local_ray, monkeypatch):
    monkeypatch.setattr(sweep_writer, "PART_ROWS", 4)  # a part soon, so the kills land mid-run
    task = SyntheticTask(items=16, model_ms=30)
    specs = (f"{SYN}:quality=5,60:cost_ms=120",)
    run = tmp_path / "ray"
    killed = kill_once_stored(run, ("ray::MapBatches(_code_shards)", "ray::MapWorker("))
    summary = run_sweep(task, run, config(specs, backend="ray"))
    assert killed == ["ray::MapBatches(_code_shards)", "ray::MapWorker("]
    assert (summary.written, summary.failed) == (48, 0)
    assert rows(run) == local_rows(tmp_path, task, specs)


def _driver_with_a_part_stored(run: Path, address: str) -> tuple[list[str], subprocess.Popen]:
    """A Ray sweep's driver (24 items, 2 settings, a metric) once it has stored a part, and
    its command line."""
    command = [sys.executable, "-c", SMALL_PARTS, "run", "--task", TASK, "--option", "items=24",
               "--option", "model_ms=40", "--codec", f"{SYN}:quality=5,60:cost_ms=60",
               "--metric", MAE, "--batch-size", "4", "--no-cache", "--no-progress",
               "--backend", "ray", "--ray-address", address, "--out", str(run)]  # fmt: skip
    driver = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not list((run / RESULTS).glob("part-*.parquet")):
        assert driver.poll() is None, driver.stderr.read()
        time.sleep(0.01)
    return command, driver


def _resumed(command: list[str]) -> str:
    """The stderr of the same command run again, which must complete the run."""
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    return resumed.stderr


@needs_ray
@pytest.mark.slow
def test_killed_driver_resumes_with_the_same_command(tmp_path, local_ray):
    run = tmp_path / "ray"
    command, driver = _driver_with_a_part_stored(run, local_ray)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    stored = len(read_results(run))
    assert 0 < stored < 72
    assert f"{stored} already stored" in _resumed(command)
    expected = local_rows(tmp_path, SyntheticTask(items=24, model_ms=40),
                          (f"{SYN}:quality=5,60:cost_ms=60",))  # fmt: skip
    assert rows(run) == expected
    assert read_run(run)[0]["status"] == "complete"


@needs_ray
@pytest.mark.slow
def test_sigterm_stops_a_ray_driver_as_ctrl_c_does(tmp_path, local_ray):
    # Ray's core worker sets its own SIGTERM handler in the driver, which aborted it.
    run = tmp_path / "ray"
    command, driver = _driver_with_a_part_stored(run, local_ray)
    driver.send_signal(signal.SIGTERM)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    manifest, table = read_run(run)
    assert manifest["status"] == "interrupted" and 0 < table.num_rows < 72
    assert f"{table.num_rows} already stored" in _resumed(command)
    assert read_run(run)[1].num_rows == 72


@needs_ray
@pytest.mark.slow
def test_two_node_cluster_writes_the_local_rows(tmp_path, local_ray):
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        task = SyntheticTask(items=10, broken="4")
        cache = tmp_path / "cache"
        run_sweep(task, tmp_path / "ray", config(backend="ray", cache_dir=cache))
        expected = without_cache_hits(local_rows(tmp_path, task))
        assert without_cache_hits(rows(tmp_path / "ray")) == expected
        assert any(cache.rglob("*.pack"))
    finally:
        ray.shutdown()
        cluster.shutdown()

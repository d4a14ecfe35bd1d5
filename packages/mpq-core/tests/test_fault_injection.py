"""A sweep SIGKILLed at random moments, compaction included, and resumed each time.

The sweep runs in a subprocess through `mpq run`. A small driver slows renames and deletions a
little (as a slow disk would), writes a part per model batch so that kills land between many
parts, and marks when compaction starts, so that some kills land inside
compaction for certain rather than by luck. The sweep grows by two codec settings per phase (a
resume may add settings), so every phase ends in a compaction that can be killed. After every
kill the same command resumes; at the end the run must equal, key for key and value for value,
an uninterrupted run of the final command.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from mpq.core.store import COMPACT_MARK, RESULTS, read_results, read_run

SYN = "python:mpq.core.testing:SyntheticCodec"
TASK = "python:mpq.core.testing:SyntheticTask"
MAE = "python:mpq.core.testing:MeanAbsoluteError"
STABLE = ["item_id", "setting", "status", "bytes", "bpp", "codec_params", "stat.correct",
          "stat.agree", "metric.mae", "prediction", "error"]  # fmt: skip
QUALITIES = ("5", "60")
# Enough for every phase to add two, even when phases end before their kills (a fast machine).
MORE_QUALITIES = tuple(str(q) for q in (90, 30, 75, 15, 45, 99, 2, 50, 20, 80, 10, 70, 35, 85, 25,
                                        65, 40, 95, 55, 8, 12, 88, 33, 66, 18, 77, 42, 58, 3, 97,
                                        22, 48, 52, 28, 72, 38, 62, 92, 6, 82))  # fmt: skip
KILLS = 20
RANDOM_KILLS_PER_PHASE = 4
STEP_S = 0.03

DRIVER = f"""
import os, pathlib, sys, time
from mpq.core import store, sweep_writer
from mpq.core.cli import main

marker = pathlib.Path(os.environ["MPQ_TEST_MARKER"])
unlink, replace, compact = pathlib.Path.unlink, os.replace, store.RunStore.compact


def slow(step):
    def slowed(*args, **kwargs):
        time.sleep({STEP_S})
        return step(*args, **kwargs)

    return slowed


def marked_compact(self):
    marker.touch()
    compact(self)


pathlib.Path.unlink, os.replace = slow(unlink), slow(replace)
store.RunStore.compact = marked_compact
sweep_writer.PART_ROWS = 4
sys.exit(main(sys.argv[1:]))
"""


def command(out, qualities):
    return [
        sys.executable, "-c", DRIVER, "run", "--task", TASK,
        "--option", "items=40", "--option", "model_ms=30", "--option", "broken=7",
        "--codec", f"{SYN}:quality={','.join(qualities)}", "--metric", MAE,
        "--batch-size", "4", "--workers", "1", "--no-cache", "--no-progress", "--out", str(out),
    ]  # fmt: skip


def stable(path):
    return (
        read_results(path)
        .select(STABLE)
        .sort_by([("item_id", "ascending"), ("setting", "ascending")])
    )


@pytest.mark.slow
def test_random_sigkills_and_resumes_end_equal_to_an_uninterrupted_run(tmp_path):
    rng = random.Random(20261201)
    out, marker = tmp_path / "killed", tmp_path / "compacting"
    env = {**os.environ, "MPQ_TEST_MARKER": str(marker)}
    qualities, more = list(QUALITIES), iter(MORE_QUALITIES)
    kills, in_compaction, mid_sweep, stored = 0, 0, 0, 0
    while True:
        # A phase: random kills while the sweep runs, then one aimed inside its compaction.
        for attempt in range(RANDOM_KILLS_PER_PHASE + 1):
            if kills == KILLS:
                break
            marker.unlink(missing_ok=True)
            process = subprocess.Popen(
                command(out, qualities), env=env, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if attempt == RANDOM_KILLS_PER_PHASE:
                deadline = time.time() + 120
                while not marker.exists() and process.poll() is None and time.time() < deadline:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0, 6 * STEP_S))
            else:
                time.sleep(rng.uniform(0.2, 2.5))
            if process.poll() is not None:  # the phase finished before this kill
                break
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
            in_compaction += marker.exists()
            rows = read_results(out).num_rows  # after every kill the run reads
            mid_sweep += not marker.exists() and rows > stored
            stored = rows
        subprocess.run(command(out, qualities), env=env, check=True, capture_output=True)
        if kills == KILLS:
            break
        qualities += [next(more), next(more)]  # a resume may add codec settings
    clean = tmp_path / "clean"
    subprocess.run(command(clean, qualities), env=env, check=True, capture_output=True)
    assert in_compaction >= 2 and mid_sweep >= 2
    killed, uninterrupted = stable(out), stable(clean)
    assert killed.num_rows == 40 * (len(qualities) + 1)
    assert killed.equals(uninterrupted)
    manifest = read_run(out)[0]
    assert manifest["status"] == "complete"
    parts = list((out / RESULTS).glob("part-*"))
    assert len(parts) == 1 and COMPACT_MARK in parts[0].name
    print(
        f"{kills} kills ({mid_sweep} after new rows were stored, {in_compaction} inside"
        f" compaction), {len(qualities)} codec settings; the run equals the clean one"
    )

import math
import subprocess
import sys
import textwrap
from typing import ClassVar

import numpy as np
import pytest

from mpq.core.cache import BitstreamCache
from mpq.core.codec import REFERENCE_SETTING, Setting
from mpq.core.sweep_codec import WORKER_DIED, CodecStage, Decoded, Failed
from mpq.core.sweep_items import ItemState, SweepJob
from mpq.core.testing import (
    BesideMeanAbsoluteError,
    SyntheticCodec,
    SyntheticTask,
    heavy_imports_of,
)

SYN = SyntheticCodec.name
LOW = Setting(SYN, (("quality", 5),))


def jobs(setting, n=3):
    return [
        SweepJob(ItemState(item, f"hash{i}"), setting)
        for i, item in enumerate(SyntheticTask(items=n).items())
    ]


class CroppingCodec(SyntheticCodec):
    def decode(self, bitstream):
        return super().decode(bitstream)[1:]


def test_in_process_results_come_back_from_start_and_are_cached(tmp_path):
    seen = []
    cache = BitstreamCache(tmp_path)
    stage = CodecStage({SYN: SyntheticCodec}, 0, cache, lambda *a: seen.append(a[:2]))
    first = stage.start(jobs(LOW))
    assert [type(o) for o in first] == [Decoded] * 3 and stage.pending == 0
    assert [o.coded.cache_hit for o in first] == [False] * 3
    assert seen == [(f"img0000{i}", LOW.id) for i in range(3)]
    again = stage.start(jobs(LOW))
    assert [o.coded.cache_hit for o in again] == [True] * 3
    for cold, warm in zip(first, again, strict=True):
        assert np.array_equal(cold.decoded, warm.decoded)
        assert cold.coded.result.bitstream.payload == warm.coded.result.bitstream.payload
    assert stage.collect(block=True) == []


class BatchingSyntheticCodec(SyntheticCodec):
    """The synthetic codec, coding a setting's items in one batch (its default batch API)."""

    batches = True


def test_a_batching_codec_caches_under_the_keys_of_single_coding(tmp_path):
    cache = BitstreamCache(tmp_path)
    batched = CodecStage({SYN: BatchingSyntheticCodec}, 0, cache)
    first = batched.start(jobs(LOW))
    again = batched.start(jobs(LOW))
    assert [o.coded.cache_hit for o in first] == [False] * 3
    assert [o.coded.cache_hit for o in again] == [True] * 3
    plain = CodecStage({SYN: SyntheticCodec}, 0, cache).start(jobs(LOW))
    assert [o.coded.cache_hit for o in plain] == [True] * 3  # the same keys, coded one at a time
    for cold, warm in zip(first, plain, strict=True):
        assert cold.coded.result.bitstream.payload == warm.coded.result.bitstream.payload


def test_references_pass_through():
    stage = CodecStage({SYN: SyntheticCodec}, 0)
    [reference] = stage.start(jobs(REFERENCE_SETTING, 1))
    assert reference.coded is None
    assert reference.decoded is reference.job.state.item.data


def test_codec_errors_and_wrong_shapes_are_failures():
    failing = Setting(SYN, (("fail_above", 0),))
    [error] = CodecStage({SYN: SyntheticCodec}, 0).start(jobs(failing, 1))
    assert isinstance(error, Failed) and error.error.startswith("ValueError: item max")
    [cropped] = CodecStage({SYN: CroppingCodec}, 0).start(jobs(LOW, 1))
    assert isinstance(cropped, Failed)
    assert cropped.error == f"codec {SYN!r} decoded shape (23, 25, 3), original is (24, 25, 3)"


def test_decoded_items_stay_where_they_were_coded_unless_needed_and_are_still_checked():
    beside = (BesideMeanAbsoluteError,)
    kept = CodecStage({SYN: SyntheticCodec}, 0, beside=beside).start(jobs(LOW))
    dropped = CodecStage({SYN: SyntheticCodec}, 0, beside=beside, keep_decoded=False)
    left = dropped.start(jobs(LOW))
    for full, lean in zip(kept, left, strict=True):
        assert lean.decoded is None and lean.coded.result.decoded is None
        assert full.decoded is not None and full.coded.metrics["metric.mae-beside"] > 0
        assert lean.coded.metrics == full.coded.metrics and lean.coded.metric_s > 0
        assert lean.coded.result.bitstream.payload == full.coded.result.bitstream.payload
    saving = CodecStage({SYN: SyntheticCodec}, 0, on_decoded=print, keep_decoded=False)
    assert saving.keep_decoded  # the decoded items are saved: they must come back
    lean_crop = CodecStage({SYN: CroppingCodec}, 0, keep_decoded=False).start(jobs(LOW, 1))
    assert isinstance(lean_crop[0], Failed) and "decoded shape (23, 25, 3)" in lean_crop[0].error


def test_an_items_settings_make_one_trip_to_the_pool():
    settings = [Setting(SYN, (("quality", q),)) for q in (5, 50, 90)]
    [state] = {job.state.item.id: job.state for job in jobs(LOW, 1)}.values()
    stage = CodecStage({SYN: SyntheticCodec}, 1, keep_decoded=False)
    try:
        assert stage.start([SweepJob(state, s) for s in settings]) == []
        assert (len(stage.inflight), stage.pending) == (1, 3)
        outcomes = []
        while stage.pending:
            outcomes += stage.collect(block=True)
    finally:
        stage.close()
    assert [o.job.setting for o in outcomes] == settings
    assert len({o.coded.result.bitstream.payload for o in outcomes}) == 3


class CountingError(BesideMeanAbsoluteError):
    """Records the size of every call; refuses a call holding a pair whose decoded mean is
    above `refuse_above`, as a metric refuses an item too small for it."""

    calls: ClassVar[list[int]] = []
    refuse_above = 255.0

    def compute(self, references, decoded):
        type(self).calls.append(len(decoded))
        if any(d.mean() > self.refuse_above for d in decoded):
            raise ValueError("too bright for this metric")
        return super().compute(references, decoded)


def test_an_items_settings_are_measured_together_and_pair_by_pair_where_refused(monkeypatch):
    settings = [Setting(SYN, (("quality", q),)) for q in (5, 50, 90)]
    [state] = {job.state.item.id: job.state for job in jobs(LOW, 1)}.values()
    item_jobs = [SweepJob(state, s) for s in settings]
    monkeypatch.setattr(CountingError, "calls", [])
    stage = CodecStage({SYN: SyntheticCodec}, 0, beside=(CountingError,))
    together = stage.start(item_jobs)
    assert CountingError.calls == [3]  # one call for the item's three settings
    expected = [
        np.abs(state.item.data.astype(int) - o.decoded.astype(int)).mean() for o in together
    ]
    assert [o.coded.metrics["metric.mae-beside"] for o in together] == pytest.approx(expected)
    assert sum(o.coded.metric_s for o in together) > 0
    brightest = max(o.decoded.mean() for o in together)
    monkeypatch.setattr(CountingError, "calls", [])
    monkeypatch.setattr(CountingError, "refuse_above", brightest - 1e-9)
    apart = CodecStage({SYN: SyntheticCodec}, 0, beside=(CountingError,)).start(item_jobs)
    assert CountingError.calls == [3, 1, 1, 1]
    values = [o.coded.metrics["metric.mae-beside"] for o in apart]
    refused = [i for i, value in enumerate(values) if math.isnan(value)]
    assert refused == [int(np.argmax([o.decoded.mean() for o in together]))]
    assert apart[refused[0]].coded.metric_errors == {"mae-beside": "too bright for this metric"}
    del values[refused[0]], expected[refused[0]]
    assert values == pytest.approx(expected)


DYING = '''
import os, signal
from pathlib import Path
from mpq.core.codec import Param
from mpq.core.testing import SyntheticCodec


class DyingCodec(SyntheticCodec):
    """Kills its process on encode while the file `marker` is missing (always, without one)."""

    parameters = (*SyntheticCodec.parameters, Param("marker", str, ""))

    def encode(self, data):
        marker = self.values["marker"]
        if not marker or not Path(marker).exists():
            if marker:
                Path(marker).touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return super().encode(data)
'''


@pytest.fixture
def dying_codec(tmp_path, monkeypatch):
    """A codec class that spawned workers can import (the test module itself they cannot)."""
    (tmp_path / "dying_codec.py").write_text(textwrap.dedent(DYING))
    monkeypatch.syspath_prepend(str(tmp_path))
    from dying_codec import DyingCodec

    return DyingCodec


def run_in_pool(stage, todo):
    outcomes = stage.start(todo)
    while stage.pending:
        outcomes += stage.collect(block=True)
    stage.close()
    return outcomes


@pytest.mark.slow
def test_a_dead_worker_is_retried_once_in_a_fresh_pool(tmp_path, dying_codec):
    once = Setting(SYN, (("marker", str(tmp_path / "died")),))
    outcomes = run_in_pool(CodecStage({SYN: dying_codec}, 1), jobs(once))
    assert [type(o) for o in outcomes] == [Decoded] * 3
    assert (tmp_path / "died").exists()
    assert any(o.job.attempts == 1 for o in outcomes)
    always = run_in_pool(CodecStage({SYN: dying_codec}, 1), jobs(Setting(SYN)))
    assert [(type(o), o.error) for o in always] == [(Failed, WORKER_DIED)] * 3
    assert all(o.job.attempts == 1 for o in always)


@pytest.mark.slow
def test_a_setting_that_kills_its_worker_takes_no_other_job_down(tmp_path, dying_codec):
    # Retried side by side in the fresh pool, the other jobs in flight died with the killer's
    # retry and failed too.
    (tmp_path / "alive").touch()
    good = Setting(SYN, (("marker", str(tmp_path / "alive")), ("cost_ms", 300)))
    killer = Setting(SYN)
    todo = [SweepJob(job.state, setting) for job in jobs(good, 4) for setting in (good, killer)]
    outcomes = run_in_pool(CodecStage({SYN: dying_codec}, 2), todo)
    assert len(outcomes) == 8
    assert {type(o) for o in outcomes if o.job.setting == good} == {Decoded}
    assert {(type(o), o.error) for o in outcomes if o.job.setting == killer} == {
        (Failed, WORKER_DIED)
    }


def test_a_codec_worker_loads_no_table_or_model_library():
    """What a worker imports to code an item: numpy, not pyarrow, pandas or torch."""
    assert heavy_imports_of("mpq.core.item_coding") == ["numpy"]


def test_a_codec_worker_does_not_read_the_installed_plugins():
    """Jobs carry codec classes, so a worker never looks a plugin up: importlib.metadata, 50 ms
    of every worker's start, stays out of its module chain."""
    code = "import sys, mpq.core.item_coding; print('importlib.metadata' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["False"]

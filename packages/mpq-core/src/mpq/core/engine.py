"""The sweep: items x codec settings -> codec worker pool -> batched model -> metrics -> store.

Codec work runs in a pool of worker processes while the model runs batches in this process, so
encoding for the next batches overlaps inference on the current one. Every item is also run
uncompressed (the reference row, setting ``none``); compressed rows are scored against the model's
prediction on that reference. A failing item (unreadable input, codec error) becomes a row with
status ``failed`` and its error, and the sweep goes on. Rows are written once per completed batch,
atomically; a resumed sweep skips the keys already stored, so an interrupted or killed sweep loses
at most the batch in flight and never duplicates a row.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.text import Text

from mpq.core import registry
from mpq.core.cache import DEFAULT_CACHE_DIR, BitstreamCache
from mpq.core.codec import (
    REFERENCE_SETTING,
    Codec,
    CodecResult,
    Setting,
    apply_setting,
    codec_class,
    redecode,
)
from mpq.core.device import autocast, is_out_of_memory, release_memory, resolve_device, seed_all
from mpq.core.errors import MpqError, RunStoreError
from mpq.core.hashing import content_hash
from mpq.core.metric import Metric
from mpq.core.rate import ImageExtent
from mpq.core.records import (
    METRIC_PREFIX,
    SCHEMA_VERSION,
    STAT_PREFIX,
    STATUS_FAILED,
    STATUS_OK,
    environment,
    params_json,
)
from mpq.core.store import RunStore, new_manifest, stored_keys
from mpq.core.task import Item, Task

WORKER_RETRIES = 1
PARENT_POLL_S = 0.5
WORKER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class SweepConfig:
    """Everything about a sweep except the task; the CLIs fill it from their shared options."""

    settings: list[Setting]
    metrics: list[str] = field(default_factory=list)
    workers: int = 0
    batch_size: int = 16
    device: str = "auto"
    amp: bool = False
    limit: int | None = None
    seed: int = 0
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    progress: bool = True
    dry_run: bool = False
    manifest: dict[str, Any] = field(default_factory=dict)
    # Called with (item id, setting id, decoded item) for every decoded item, e.g. to save it.
    on_decoded: Callable[[str, str, Any], None] | None = None


@dataclass
class SweepSummary:
    path: Path
    written: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    batch_size: int = 0


@dataclass
class _ItemState:
    """An item in flight; kept alive only by the jobs that still need it."""

    item: Item
    content_hash: str | None
    reference_prediction: Any = None


@dataclass
class _Job:
    state: _ItemState
    setting: Setting
    write: bool = True
    attempts: int = 0


@dataclass
class _Ready:
    job: _Job
    decoded: Any
    result: CodecResult | None = None
    cache_hit: bool | None = None


def run_sweep(task: Task, out: str | Path, config: SweepConfig) -> SweepSummary:
    """Run (or resume) a sweep of `task` into the run directory `out`."""
    return _Sweep(task, Path(out), config).run()


class _Sweep:
    def __init__(self, task: Task, out: Path, config: SweepConfig) -> None:
        self.task = task
        self.out = out
        self.config = config
        self.settings = list({s.id: s for s in [REFERENCE_SETTING, *config.settings]}.values())
        self.classes: dict[str, type[Codec]] = {
            s.codec: codec_class(s.codec) for s in self.settings if not s.is_reference
        }
        for name, cls in self.classes.items():
            _check_modality(task, "codec", name, cls)
        metric_classes = {name: registry.metrics.get(name) for name in config.metrics}
        for name, metric_class in metric_classes.items():
            _check_modality(task, "metric", name, metric_class)
        self.metrics: list[Metric] = [metric_class() for metric_class in metric_classes.values()]
        self.cache = BitstreamCache(config.cache_dir) if config.cache_dir else None
        self.batch_size = max(1, config.batch_size)
        self.summary = SweepSummary(out)
        self.console = Console(stderr=True, soft_wrap=True)
        self.ready: deque[_Ready] = deque()
        self.inflight: dict[Future, _Job] = {}
        self.rows: list[dict[str, Any]] = []
        self.metric_warnings: set[str] = set()
        self.without_reference = 0
        self.pool: ProcessPoolExecutor | None = None
        self.progress: Progress | None = None
        self.bar: Any = None

    def run(self) -> SweepSummary:
        start = time.perf_counter()
        describe = self.task.describe()
        self.identity = {
            "schema_version": SCHEMA_VERSION,
            "task": self.task.name,
            "dataset": str(describe.get("dataset", "")),
            "model": str(describe.get("model", "")),
        }
        manifest = new_manifest(
            task=self.task.name,
            task_config=describe,
            modality=self.task.modality,
            scores={name: score.to_json() for name, score in self.task.scores.items()},
            codecs=[s.id for s in self.settings],
            codec_versions={name: cls.version for name, cls in self.classes.items()},
            codec_knobs={name: _knob_name(cls) for name, cls in self.classes.items()},
            metrics={m.name: _metric_info(m) for m in self.metrics},
            device=self.config.device,
            amp=self.config.amp,
            batch_size=self.batch_size,
            workers=self.config.workers,
            seed=self.config.seed,
            limit=self.config.limit,
            environment=environment(),
            **self.config.manifest,
        )
        if self.config.dry_run:
            self._dry_run(stored_keys(self.out, manifest))
            return self.summary
        with RunStore.open(self.out, manifest) as store:
            self.identity["run_id"] = store.manifest["run_id"]
            done = store.done_keys()
            try:
                with self._progress():
                    self._sweep(store, done)
                if self.task.scores:
                    store.update_manifest(items_without_reference=self._without_reference())
                store.finish()
            except KeyboardInterrupt:
                self.summary.interrupted = True
                store.write(self._take_rows())
                self.console.print(
                    f"[yellow]Interrupted.[/] {self.summary.written} rows are safely stored in"
                    f" {self.out}; run the same command again to resume."
                )
            finally:
                if self.pool is not None:
                    self.pool.shutdown(wait=False, cancel_futures=True)
        self.summary.seconds = time.perf_counter() - start
        self.summary.batch_size = self.batch_size
        return self.summary

    # -- the pipeline ----------------------------------------------------------------------------

    def _sweep(self, store: RunStore, done: set[tuple[str, str]]) -> None:
        jobs = self._jobs(done)
        # Codec workers start on the first jobs while torch imports and the model loads.
        exhausted = self._fill(jobs)
        self.device = resolve_device(self.config.device)
        store.update_manifest(device=self.device)
        self.task.setup(self.device, self.config.amp)
        for metric in self.metrics:
            metric.setup(self.device)
        seed_all(self.config.seed)
        while True:
            exhausted = exhausted or self._fill(jobs)
            can_wait = bool(self.inflight) and (
                exhausted or len(self.inflight) >= self.max_inflight
            )
            self._collect(block=can_wait and len(self.ready) < self.batch_size)
            if len(self.ready) >= self.batch_size or (
                self.ready and exhausted and not self.inflight
            ):
                self._run_batch()
                store.write(self._take_rows())
            elif exhausted and not self.inflight and not self.ready:
                store.write(self._take_rows())
                return

    @property
    def max_inflight(self) -> int:
        return 2 * self.batch_size + 2 * self.config.workers

    def _fill(self, jobs: Iterator[_Job]) -> bool:
        """Start jobs until the pool and the ready queue are full; True once jobs run out."""
        while len(self.inflight) < self.max_inflight and len(self.ready) < 2 * self.batch_size:
            job = next(jobs, None)
            if job is None:
                return True
            self._start(job)
        return False

    def _jobs(self, done: set[tuple[str, str]]) -> Iterator[_Job]:
        seen: set[str] = set()
        for item in islice(self.task.items(), self.config.limit):
            if item.id in seen:
                raise MpqError(
                    f"the dataset yields item id {item.id!r} twice; item ids must be unique."
                )
            seen.add(item.id)
            if item.target is None and item.error is None:
                self._note_missing_reference(item)
            todo = [s for s in self.settings if (item.id, s.id) not in done]
            self._skip(len(self.settings) - len(todo))
            if not todo:
                continue
            if item.error is not None:
                for setting in todo:
                    self._fail(_Job(_ItemState(item, None), setting), item.error)
                continue
            digest = content_hash(item.data) if self.cache else None
            state = _ItemState(item, digest)
            yield _Job(state, REFERENCE_SETTING, write=REFERENCE_SETTING in todo)
            for setting in todo:
                if not setting.is_reference:
                    yield _Job(state, setting)

    def _note_missing_reference(self, item: Item) -> None:
        """Scores that compare with a reference are undefined for such items: say so at once."""
        self.without_reference += 1
        if self.without_reference == 1 and self.task.scores:
            count = getattr(self.task, "count", lambda: None)()
            of = "" if count is None else f" (of {count} items)"
            self.console.print(
                f"[yellow]Item {item.id!r} has no reference (label, transcript){of}: the scores"
                f" that compare with one ({', '.join(self.task.scores)}) are undefined for such"
                " items. The sweep's summary counts them.[/]"
            )

    def _without_reference(self) -> int:
        if self.without_reference:
            self.console.print(
                f"[yellow]{self.without_reference} items of this sweep had no reference; scores"
                " that need one are undefined for them (mpq show says so).[/]"
            )
        return self.without_reference

    def _start(self, job: _Job) -> None:
        if job.setting.is_reference:
            self.ready.append(_Ready(job, job.state.item.data))
            return
        cls = self.classes[job.setting.codec]
        cached = self._cache_get(job, cls)
        if cached is not None and cached.decoded is not None:
            self._accept(job, cached, cache_hit=True)
        elif self.config.workers <= 0:
            try:
                result = (
                    redecode(cls, cached)
                    if cached
                    else apply_setting(cls, job.setting, job.state.item.data)
                )
            except Exception as error:
                self._fail(job, _describe(error))
            else:
                self._accept(job, result, cache_hit=cached is not None)
        else:
            if cached is not None:
                future = self._submit(redecode, cls, cached)
            else:
                future = self._submit(apply_setting, cls, job.setting, job.state.item.data)
            self.inflight[future] = job

    def _submit(self, fn: Any, *args: Any) -> Future:
        if self.pool is None:
            self.pool = ProcessPoolExecutor(
                max_workers=self.config.workers,
                mp_context=get_context("spawn"),
                initializer=_worker_init,
                initargs=(os.getpid(),),
            )
        return self.pool.submit(fn, *args)

    def _collect(self, block: bool) -> None:
        if not self.inflight:
            return
        finished, _ = wait(
            list(self.inflight), timeout=None if block else 0, return_when=FIRST_COMPLETED
        )
        broken: list[_Job] = []
        for future in finished:
            job = self.inflight.pop(future)
            try:
                result = future.result()
            except BrokenProcessPool:
                broken.append(job)
            except Exception as error:
                self._fail(job, _describe(error))
            else:
                self._accept(job, result, cache_hit=False)
        if broken:
            self._restart_pool(broken)

    def _restart_pool(self, broken: list[_Job]) -> None:
        """A worker died (crash, out of memory): retry its jobs once in a fresh pool."""
        broken += list(self.inflight.values())
        self.inflight.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        for job in broken:
            if job.attempts >= WORKER_RETRIES:
                self._fail(
                    job, "the codec worker process died (crash or out of memory) on this item"
                )
            else:
                job.attempts += 1
                self._start(job)

    def _accept(self, job: _Job, result: CodecResult, cache_hit: bool) -> None:
        expected, got = np.shape(job.state.item.data), np.shape(result.decoded)
        if expected != got:
            self._fail(
                job, f"codec {job.setting.codec!r} decoded shape {got}, original is {expected}"
            )
            return
        if self.cache is not None and not cache_hit:
            self.cache.put(self._cache_key(job), result)
        if self.config.on_decoded is not None:
            try:
                self.config.on_decoded(job.state.item.id, job.setting.id, result.decoded)
            except OSError as error:
                raise RunStoreError(
                    f"cannot save the decoded item {job.state.item.id!r} @ {job.setting.id}"
                    f" ({error.strerror or error}: {error.filename}). The rows already stored in"
                    f" {self.out} are intact: fix that (free disk space, say) and run the same"
                    " command again to resume."
                ) from error
        self.ready.append(_Ready(job, result.decoded, result, cache_hit))

    def _cache_key(self, job: _Job) -> str:
        version = self.classes[job.setting.codec].version
        return BitstreamCache.key(job.state.content_hash or "", job.setting, version)

    def _cache_get(self, job: _Job, cls: type[Codec]) -> CodecResult | None:
        if self.cache is None:
            return None
        return self.cache.get(self._cache_key(job))

    def _run_batch(self) -> None:
        batch = [self.ready.popleft() for _ in range(min(self.batch_size, len(self.ready)))]
        start = time.perf_counter()
        predictions = self._predict([entry.decoded for entry in batch])
        per_item = (time.perf_counter() - start) / len(batch)
        order = sorted(range(len(batch)), key=lambda i: not batch[i].job.setting.is_reference)
        for i in order:
            if batch[i].job.setting.is_reference:
                batch[i].job.state.reference_prediction = predictions[i]
        compressed = [i for i in order if not batch[i].job.setting.is_reference]
        values = self._similarity(batch, compressed)
        for i in order:
            entry = batch[i]
            state = entry.job.state
            stats = self.task.score(state.item, predictions[i], state.reference_prediction)
            row = self._row(entry.job, STATUS_OK, entry.result, entry.cache_hit)
            row["predict_s"] = per_item
            prediction = self.task.prediction_json(predictions[i])
            row["prediction"] = None if prediction is None else json.dumps(prediction)
            row.update({f"{STAT_PREFIX}{k}": v for k, v in stats.items()})
            if i in values:
                row.update(values[i])
            if entry.job.write:
                self.rows.append(row)
                self.summary.written += 1
            self._advance(1 if entry.job.write else 0)

    def _similarity(self, batch: list[_Ready], indices: list[int]) -> dict[int, dict[str, float]]:
        """Each metric once over the batch's compressed entries: index -> metric columns."""
        out: dict[int, dict[str, float]] = {i: {} for i in indices}
        if not indices:
            return out
        references = [batch[i].job.state.item.data for i in indices]
        decoded = [batch[i].decoded for i in indices]
        for metric in self.metrics:
            try:
                values = metric.compute(references, decoded)
            except (MpqError, ValueError):
                values = [
                    self._one_value(metric, r, d) for r, d in zip(references, decoded, strict=True)
                ]
            for i, value in zip(indices, values, strict=True):
                out[i][f"{METRIC_PREFIX}{metric.name}"] = float(value)
        return out

    def _one_value(self, metric: Metric, reference: Any, decoded: Any) -> float:
        """A metric undefined for one item (too small, say) is NaN there, said once per metric."""
        try:
            return metric.compute([reference], [decoded])[0]
        except (MpqError, ValueError) as error:
            if metric.name not in self.metric_warnings:
                self.metric_warnings.add(metric.name)
                self.console.print(f"[yellow]{metric.name} left empty for some items: {error}[/]")
            return float("nan")

    def _predict(self, inputs: list[Any]) -> list[Any]:
        """Run the model, halving the batch size for the rest of the run on out-of-memory."""
        try:
            with autocast(self.device, self.config.amp):
                predictions = self.task.predict(inputs)
        except Exception as error:
            if not is_out_of_memory(error) or len(inputs) == 1:
                raise
            release_memory(self.device)
            half = len(inputs) // 2
            self.batch_size = min(self.batch_size, half)
            self.console.print(
                f"[yellow]Out of memory at batch size {len(inputs)}; continuing with"
                f" {self.batch_size}.[/]"
            )
            return self._predict(inputs[:half]) + self._predict(inputs[half:])
        if len(predictions) != len(inputs):
            raise MpqError(
                f"task {self.task.name!r} returned {len(predictions)} predictions for a batch of"
                f" {len(inputs)}."
            )
        return list(predictions)

    # -- rows and bookkeeping --------------------------------------------------------------------

    def _row(
        self, job: _Job, status: str, result: CodecResult | None, cache_hit: bool | None
    ) -> dict[str, Any]:
        setting = job.setting
        target = setting.target
        row: dict[str, Any] = {
            **self.identity,
            "item_id": job.state.item.id,
            "setting": setting.id,
            "codec": setting.codec,
            "codec_params": None if setting.is_reference else params_json(dict(setting.values)),
            "target_unit": target.unit if target else None,
            "target_value": target.value if target else None,
            "status": status,
            "cache_hit": cache_hit,
        }
        if result is not None:
            rate = result.bitstream.rate
            extent = result.bitstream.extent
            row.update(
                codec_params=params_json(result.values),
                bytes=rate.bytes,
                bits=rate.bits,
                bpp=rate.bpp,
                kbps=rate.kbps,
                channels=extent.channels,
                encode_s=result.encode_s,
                decode_s=result.decode_s,
                probes=result.probes,
            )
            if isinstance(extent, ImageExtent):
                row.update(height=extent.height, width=extent.width, pixels=extent.pixels)
            else:
                row.update(samples=extent.samples, sample_rate=extent.sample_rate)
        return row

    def _fail(self, job: _Job, error: str) -> None:
        if not job.write:
            return
        row = self._row(job, STATUS_FAILED, None, None)
        row["error"] = error
        self.rows.append(row)
        self.summary.failed += 1
        self._advance(1)

    def _take_rows(self) -> list[dict[str, Any]]:
        rows, self.rows = self.rows, []
        return rows

    def _skip(self, n: int) -> None:
        self.summary.skipped += n
        self._advance(n)

    def _advance(self, n: int) -> None:
        if self.bar is not None and n:
            self.progress.advance(self.bar, n)

    def _progress(self) -> Progress:
        count = getattr(self.task, "count", lambda: None)()
        if count is not None and self.config.limit is not None:
            count = min(count, self.config.limit)
        total = None if count is None else count * len(self.settings)
        self.progress = Progress(
            TextColumn(f"[bold]{self.task.name}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            _SpeedColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.config.progress,
        )
        self.bar = self.progress.add_task("sweep", total=total)
        return self.progress

    def _dry_run(self, done: set[tuple[str, str]]) -> None:
        items = [item.id for item in islice(self.task.items(), self.config.limit)]
        keys = [(i, s.id) for i in items for s in self.settings]
        todo = [k for k in keys if k not in done]
        self.summary.skipped = len(keys) - len(todo)
        self.console.print(
            f"Dry run: {len(items)} items x {len(self.settings)} settings"
            f" ({', '.join(s.id for s in self.settings)}) = {len(keys)} rows;"
            f" {self.summary.skipped} already stored in {self.out}, {len(todo)} to compute."
        )


def _knob_name(cls: type[Codec]) -> str | None:
    """Reports draw one curve per codec and fixed non-knob parameters, ordered by the knob."""
    knob = cls.rate_knob()
    return None if knob is None else knob.name


def _metric_info(metric: Metric) -> dict[str, Any]:
    return {"higher_is_better": metric.higher_is_better, "input_range": metric.input_range}


def _check_modality(task: Task, kind: str, name: str, plugin: Any) -> None:
    """A codec or metric of another modality would fail on every item: refuse it up front."""
    modality = getattr(plugin, "modality", None)
    if modality is not None and modality != task.modality:
        raise MpqError(
            f"{kind} {name!r} is for {modality}, but task {task.name!r} works on"
            f" {task.modality}; choose an {task.modality} {kind} (mpq plugins lists them)."
        )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _worker_init(parent: int) -> None:
    """One codec per core: workers run single-threaded, leave Ctrl-C to the parent and end
    when it ends, even when it is killed and cannot shut them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    for variable in WORKER_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _exit_with_parent(parent: int) -> None:
    """An orphaned worker is adopted by another process: its parent pid changes."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


class _SpeedColumn(ProgressColumn):
    """Average rows per second since the start: steadier than rich's recent-window speed."""

    def render(self, task: ProgressTask) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("- rows/s")
        return Text(f"{task.completed / elapsed:.2f} rows/s")

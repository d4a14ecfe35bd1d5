"""The sweep: items x codec settings -> codec stage -> batched model -> metrics -> rows -> store.

The stages live in modules of their own (`sweep_items`, `sweep_codec`, `sweep_model`,
`sweep_metrics`, `sweep_rows`, `sweep_writer`, `sweep_progress`) and take plain inputs, so other
executors can compose them; this module is the local executor. Codec work runs in a pool of
worker processes while the model runs batches in this process, so encoding for the next batches
overlaps inference on the current one. Every item is also run uncompressed (the reference row,
setting ``none``); compressed rows are scored against the model's prediction on that reference.
A failing item (unreadable input, codec error) becomes a row with status ``failed`` and its
error, and the sweep goes on. Rows are written atomically in parts of a few thousand rows or a
few seconds (`sweep_writer`), and all of them at the end or on Ctrl-C; a resumed sweep skips the
keys already stored, so a killed sweep loses at most the rows since the last part and never
duplicates a row. SIGTERM stops a sweep as Ctrl-C does.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console

from mpq.core.cache import BitstreamCache
from mpq.core.codec import Setting
from mpq.core.codec_pool import default_workers
from mpq.core.device import keep_freed_memory, resolve_device, seed_all
from mpq.core.errors import MpqError, RunStoreError
from mpq.core.files import FileItems
from mpq.core.paths import DEFAULT_CACHE_DIR
from mpq.core.records import environment
from mpq.core.store import STATUS_INTERRUPTED, RunStore, stored_keys
from mpq.core.sweep_codec import CodecStage, Decoded, Outcome
from mpq.core.sweep_items import Failed, ItemSource, SweepJob, by_item
from mpq.core.sweep_metrics import MetricStage
from mpq.core.sweep_model import ModelStage
from mpq.core.sweep_plan import SweepPlan
from mpq.core.sweep_progress import ProgressBar, SweepProgress
from mpq.core.sweep_rows import RowBuilder, identity_columns
from mpq.core.sweep_score import score_batch
from mpq.core.sweep_writer import RowWriter
from mpq.core.task import Task


@dataclass
class SweepConfig:
    """Everything about a sweep except the task; the CLIs fill it from their shared options."""

    settings: list[Setting]
    metrics: list[str] = field(default_factory=list)
    workers: int | None = 0  # None: `default_workers` for the task
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
    # "local": this machine (`workers` codec processes); "ray": a Ray cluster (`ray_sweep`),
    # at `ray_address` (None: a Ray started for the sweep on this machine).
    backend: str = "local"
    ray_address: str | None = None


@dataclass
class SweepSummary:
    path: Path
    written: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    batch_size: int = 0


def run_sweep(task: Task, out: str | Path, config: SweepConfig) -> SweepSummary:
    """Run (or resume) a sweep of `task` into the run directory `out`."""
    start = time.perf_counter()
    executor = _executor(config.backend)
    if config.workers is None:
        items = task.count()
        if items is not None and config.limit is not None:
            items = min(items, config.limit)
        config = replace(config, workers=default_workers(items))
    out = Path(out)
    plan = SweepPlan.of(task, config.settings, config.metrics)
    task_config = task.describe()
    console = Console(stderr=True, soft_wrap=True)
    manifest = plan.manifest(
        task,
        task_config,
        device=config.device,
        amp=config.amp,
        batch_size=max(1, config.batch_size),
        workers=config.workers,
        seed=config.seed,
        limit=config.limit,
        cache_dir=None if config.cache_dir is None else str(config.cache_dir),
        environment=environment(plan.libraries(task)),
        **config.manifest,
    )
    if config.dry_run:
        done = stored_keys(out, manifest)
        return SweepSummary(out, skipped=_dry_run(task, plan, config.limit, done, out, console))
    with RunStore.open(out, manifest) as store:
        identity = identity_columns(task.name, task_config, store.manifest["run_id"])
        with _terminate_as_interrupt():
            summary = executor(task, plan, config, store, console).run(RowBuilder(task, identity))
        if summary.interrupted:
            store.update_manifest(status=STATUS_INTERRUPTED)
    summary.seconds = time.perf_counter() - start
    return summary


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (what `timeout`, `docker stop` and batch schedulers send) stops the sweep as
    Ctrl-C does: the finished rows are stored and the same command resumes. Later SIGTERMs are
    ignored while the rows are written; only the main thread can set a handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _executor(backend: str) -> type:
    """The executor class of `backend`; Ray is imported only for the Ray backend."""
    if backend == "local":
        return _LocalSweep
    if backend != "ray":
        raise MpqError(f"unknown backend {backend!r}; use local or ray.")
    try:
        from mpq.core.ray_sweep import RaySweep
    except ImportError as error:
        if not (error.name or "").startswith("ray"):
            raise
        raise MpqError(
            "--backend ray needs Ray, which is not installed: pip install 'mpq-core[ray]'."
        ) from error
    return RaySweep


class _LocalSweep:
    """The stages composed in this process, codec work overlapping the model."""

    def __init__(
        self, task: Task, plan: SweepPlan, config: SweepConfig, store: RunStore, console: Console
    ) -> None:
        self.task = task
        self.plan = plan
        self.config = config
        self.store = store
        self.console = console
        cache = BitstreamCache(config.cache_dir) if config.cache_dir else None
        on_decoded = None if config.on_decoded is None else _saving(config.on_decoded, store.path)
        self.codec = CodecStage.of(plan, task, config.workers, cache, on_decoded)
        if isinstance(task, FileItems):
            task.defer = self.codec.reads_files
        self.model = ModelStage(task, config.amp, config.batch_size, self.warn)
        self.metrics = MetricStage(plan.metrics, self.warn)
        self.ready: deque[Decoded] = deque()
        # Jobs of batching codecs waiting for a batch, by setting id, and how many there are.
        self.waiting: dict[str, list[SweepJob]] = {}
        self.held = 0
        self.codec_s = 0.0  # time the sweep spent coding here or waiting for the workers

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]{message}[/]")

    def run(self, rows: RowBuilder) -> SweepSummary:
        self.progress = progress = sweep_progress(self.task, self.plan, self.config, self.console)
        self.rows = rows
        self.writer = RowWriter(self.store.write, progress.advance)
        summary = SweepSummary(self.store.path)
        self.codec.start_workers()  # they start while the stored rows are read
        try:
            source = ItemSource(
                self.task,
                self.plan.settings,
                self.store.done_keys(),
                self.config.limit,
                hash_content=self.codec.cache is not None,
                on_skipped=self.writer.skip,
                warn=self.warn,
            )
            with progress:
                self._sweep(by_item(source.jobs()))
            if self.task.scores:
                without = source.report_without_reference()
                self.store.update_manifest(items_without_reference=without)
            self.store.finish()
        except KeyboardInterrupt:
            summary.interrupted = True
            self.writer.flush()
            self.console.print(
                f"[yellow]Interrupted.[/] {self.writer.written} rows are safely stored in"
                f" {self.store.path}; run the same command again to resume."
            )
        finally:
            self.codec.close()
        summary.written, summary.failed = self.writer.written, self.writer.failed
        summary.skipped, summary.batch_size = self.writer.skipped, self.model.batch_size
        return summary

    def _sweep(self, jobs: Iterator[list[SweepJob | Failed]]) -> None:
        # Codec workers start on the first jobs while torch imports and the model loads.
        exhausted = self._fill(jobs)
        device = resolve_device(self.config.device)
        self.store.update_manifest(device=device)
        keep_freed_memory()  # the model's and deep metrics' batches reuse it
        self.model.setup(device)
        self.metrics.setup(device)
        seed_all(self.config.seed)
        while True:
            started = time.perf_counter()
            exhausted = exhausted or self._fill(jobs)
            self.codec_s += time.perf_counter() - started
            pending = self.codec.pending
            can_wait = bool(pending) and (exhausted or pending >= self._max_inflight)
            started = time.perf_counter()
            self._take(self.codec.collect(can_wait and len(self.ready) < self.model.batch_size))
            self.codec_s += time.perf_counter() - started
            if len(self.ready) >= self.model.batch_size or (
                self.ready and exhausted and not self.codec.pending
            ):
                self._run_batch()
            elif exhausted and not self.codec.pending and not self.ready:
                self.writer.flush()
                return

    @property
    def _max_inflight(self) -> int:
        return 2 * self.model.batch_size + 2 * self.config.workers

    def _fill(self, items: Iterator[list[SweepJob | Failed]]) -> bool:
        """Start items' jobs until the pool and the ready queue are full; True once they run out.

        The jobs of one item go to the codec stage together (one worker trip per item); jobs of
        a codec that batches are held per setting until a model batch of them is there.
        """
        while (
            self.codec.pending + self.held < self._max_inflight
            and len(self.ready) < 2 * self.model.batch_size
        ):
            jobs = next(items, None)
            if jobs is None:
                self._release_held()
                return True
            self._take([job for job in jobs if isinstance(job, Failed)])
            runnable = [job for job in jobs if isinstance(job, SweepJob)]
            # The reference first: its prediction must be there before its item's batches.
            self._take(self.codec.start([j for j in runnable if not self.codec.batches(j)]))
            for job in runnable:
                if self.codec.batches(job):
                    self._hold(job)
        if self.held >= self._max_inflight:
            self._release_held()  # groups of many settings fill slowly: code what is there
        return False

    def _hold(self, job: SweepJob) -> None:
        group = self.waiting.setdefault(job.setting.id, [])
        group.append(job)
        self.held += 1
        if len(group) >= self.model.batch_size:
            self.held -= len(group)
            self._take(self.codec.start(self.waiting.pop(job.setting.id)))

    def _release_held(self) -> None:
        for setting_id in list(self.waiting):
            self._take(self.codec.start(self.waiting.pop(setting_id)))
        self.held = 0

    def _take(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, Decoded):
                self.ready.append(outcome)
            elif outcome.job.write:
                self.writer.add(
                    self.rows.failed(outcome.job.state.item.id, outcome.job.setting, outcome.error)
                )

    def _run_batch(self) -> None:
        size = min(self.model.batch_size, len(self.ready))
        batch = [self.ready.popleft() for _ in range(size)]
        for row in score_batch(batch, self.model, self.metrics, self.rows):
            self.writer.add(row)
        self.progress.stages(
            {
                "items and codec": self.codec_s,
                "model": self.model.seconds,
                "metrics": self.metrics.seconds,
            }
        )


def sweep_progress(
    task: Task, plan: SweepPlan, config: SweepConfig, console: Console
) -> SweepProgress:
    """The progress bar of a sweep (rows of every setting of the first `limit` items), on a
    terminal only: written to a log file, a bar is one cramped frame at the end."""
    if not config.progress or not console.is_terminal:
        return SweepProgress()
    count = getattr(task, "count", lambda: None)()
    if count is not None and config.limit is not None:
        count = min(count, config.limit)
    total = None if count is None else count * len(plan.settings)
    return ProgressBar(task.name, total, console)


def _dry_run(
    task: Task,
    plan: SweepPlan,
    limit: int | None,
    done: set[tuple[str, str]],
    out: Path,
    console: Console,
) -> int:
    """Say what the sweep would compute; returns how many of its rows are stored already."""
    items = [item.id for item in islice(task.items(), limit)]
    keys = [(i, s.id) for i in items for s in plan.settings]
    todo = [k for k in keys if k not in done]
    skipped = len(keys) - len(todo)
    console.print(
        f"Dry run: {len(items)} items x {len(plan.settings)} settings"
        f" ({', '.join(s.id for s in plan.settings)}) = {len(keys)} rows;"
        f" {skipped} already stored in {out}, {len(todo)} to compute."
    )
    return skipped


def _saving(hook: Callable[[str, str, Any], None], out: Path) -> Callable[[str, str, Any], None]:
    """The `on_decoded` hook, its disk errors said as a resumable store error."""

    def save(item_id: str, setting_id: str, decoded: Any) -> None:
        try:
            hook(item_id, setting_id, decoded)
        except OSError as error:
            raise RunStoreError(
                f"cannot save the decoded item {item_id!r} @ {setting_id}"
                f" ({error.strerror or error}: {error.filename}). The rows already stored in"
                f" {out} are intact: fix that (free disk space, say) and run the same"
                " command again to resume."
            ) from error

    return save

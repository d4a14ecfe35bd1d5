"""The sweep on a Ray cluster (``--backend ray``): the local executor's stages, run by Ray Data.

This process, the driver, plans the sweep, opens the run directory and writes every row, as the
local executor does, so `mpq show`, reports and resume read one kind of run whichever backend
wrote it, and a run may be resumed by either. The driver ships no pixels:

- The dataset is a list of item ranges (shards), one Ray task each (``num_cpus=1``). A task gets
  the task object as the driver built it, before `setup` (so without its model): that object is
  the picklable task factory. It reads its range of `task.items()` itself, skips the keys
  already stored (`ItemSource`, as locally), runs the codec stage with one child process, and
  yields one group per item: the outcome of every setting the item still needs, its reference
  included.
  A task reads the item stream from its start up to its range, so the reading cost grows with
  the number of shards; shards are few (four per CPU of the cluster) and contiguous.
- The model runs in a pool of actors (one GPU each on a GPU cluster) that take groups whole, so
  an item's reference is predicted in the same model batch as its compressed versions or in an
  earlier one (`score_batch`): the reference prediction each compressed row is scored against is
  computed where that row is scored, with no join, no second pass and nothing broadcast.
  Cheap CPU metrics run in the codec task next to the decode; deep metrics next to the model,
  on the same decoded items.
- Scored rows come back to the driver, which writes them in atomic parts of a few thousand rows
  or a few seconds (`RowWriter`).

Faults: Ray Data re-runs a codec task whose worker process died and restarts a dead model actor,
re-sending its batch, without limit by default (``max_retries=-1`` for its tasks in
ray/data/_internal/remote_fn.py, ``max_restarts=-1`` and ``max_task_retries=-1`` for its actors
in ray/data/_internal/execution/operators/actor_pool_map_operator.py, Ray 2.60). A re-run task
yields its groups again in place of the lost attempt's, so no row is lost or doubled (a test
kills both kinds of worker). A killed driver loses at most the rows since its last part, and the
same command resumes. The bitstream cache is used where the cache folder is on storage the node
shares with the driver (a file the driver writes there must be visible); elsewhere that node
codes without it, and the driver says so.
"""

from __future__ import annotations

import logging
import math
import pickle
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

import numpy as np
import ray
import ray.data
from rich.console import Console

from mpq.core.cache import BitstreamCache
from mpq.core.device import keep_freed_memory, resolve_device, seed_all
from mpq.core.engine import SweepConfig, SweepSummary, _saving, sweep_progress
from mpq.core.store import RunStore
from mpq.core.sweep_codec import CodecStage, Decoded, Outcome
from mpq.core.sweep_items import Failed, ItemSource, SweepJob, by_item, report_without_reference
from mpq.core.sweep_metrics import MetricStage
from mpq.core.sweep_model import ModelStage
from mpq.core.sweep_plan import SweepPlan
from mpq.core.sweep_rows import RowBuilder
from mpq.core.sweep_score import score_batch
from mpq.core.sweep_writer import RowWriter
from mpq.core.task import Task

SHARDS_PER_CPU = 4
# Each codec task codes in one child process of its worker, as the local engine's workers do: a
# codec that crashes or runs out of memory on an item costs that row (a failed row after one
# retry), not the Ray worker, which Ray would retry without end.
CODEC_PROCESSES = 1
SHOWN_WARNINGS = 5


@dataclass
class _Work:
    """What every worker needs, put in the object store once per sweep."""

    task: Task
    plan: SweepPlan
    done: set[tuple[str, str]]
    identity: dict[str, Any]
    amp: bool
    batch_size: int
    device: str
    seed: int
    cache_dir: Path | None
    # A file the driver wrote in the cache folder: a node that sees it shares that storage.
    cache_probe: Path | None
    on_decoded: Callable[[str, str, Any], None] | None


@dataclass
class _Coded:
    """One item's codec outcomes (none for an item already stored) and what the shard noted."""

    outcomes: list[Outcome] = field(default_factory=list)
    skipped: int = 0
    without_reference: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Scored:
    """Rows to write for a batch of groups, and what the driver reports."""

    rows: list[dict[str, Any]]
    skipped: int
    without_reference: int
    warnings: list[str]
    device: str
    batch_size: int


_works: dict[str, _Work] = {}


def _work(ref: list[ray.ObjectRef]) -> _Work:
    """The sweep's `_Work`, fetched once per worker process (the ref comes in a list, so Ray
    hands it over unresolved)."""
    key = ref[0].hex()
    if key not in _works:
        _works[key] = ray.get(ref[0])
    return _works[key]


_stages: dict[str, CodecStage] = {}


def _code_shards(batch: dict[str, np.ndarray], work: list[ray.ObjectRef]) -> Iterator[dict]:
    """Ray task: read item ranges and code them; one output batch (one group) per item."""
    shared = _work(work)
    warnings: list[str] = []
    codec = _codec_stage(work[0].hex(), shared, warnings)
    for start, stop in zip(batch["start"].tolist(), batch["stop"].tolist(), strict=True):
        for coded in _code_shard(shared, codec, start, stop, _Coded(warnings=warnings)):
            yield {"group": np.array([pickle.dumps(coded, protocol=5)], dtype=object)}
        warnings = []


def _codec_stage(key: str, work: _Work, warnings: list[str]) -> CodecStage:
    """The sweep's codec stage in this worker process, kept across its tasks: a fresh child
    process per task would pay its start and the codec's setup every time."""
    if key not in _stages:
        for stage in _stages.values():
            stage.close()
        _stages.clear()
        cache = _node_cache(work, warnings)
        _stages[key] = CodecStage.of(work.plan, work.task, CODEC_PROCESSES, cache, work.on_decoded)
    return _stages[key]


def _code_shard(
    work: _Work, codec: CodecStage, start: int, stop: int, note: _Coded
) -> Iterator[_Coded]:
    """Groups of the items `start` to `stop`; `note` starts the first one."""

    def on_skipped(n: int) -> None:
        note.skipped += n

    source = ItemSource(
        work.task,
        work.plan.settings,
        work.done,
        stop,
        hash_content=codec.cache is not None,
        on_skipped=on_skipped,
        warn=lambda message: note.warnings.append(message),
        start=start,
    )
    counted = 0
    for jobs in by_item(source.jobs()):
        note.outcomes = _run(codec, jobs)
        note.without_reference = source.without_reference - counted
        counted = source.without_reference
        yield note
        note = _Coded()
    note.without_reference = source.without_reference - counted
    if note.skipped or note.without_reference or note.warnings:
        yield note


def _run(codec: CodecStage, jobs: list[SweepJob | Failed]) -> list[Outcome]:
    """An item's outcomes, its codec work run in the task's child process and waited for (the
    jobs of a batching codec one setting at a time)."""
    outcomes: list[Outcome] = [job for job in jobs if isinstance(job, Failed)]
    runnable = [job for job in jobs if isinstance(job, SweepJob)]
    batching = [job for job in runnable if codec.batches(job)]
    outcomes += codec.start([job for job in runnable if not codec.batches(job)])
    for job in batching:
        outcomes += codec.start([job])
    while codec.pending:
        outcomes += codec.collect(block=True)
    return outcomes


def _node_cache(work: _Work, warnings: list[str]) -> BitstreamCache | None:
    if work.cache_dir is None or work.cache_probe is None:
        return None
    if work.cache_probe.exists():
        return BitstreamCache(work.cache_dir)
    warnings.append(
        f"The bitstream cache {work.cache_dir} is not on storage node {socket.gethostname()}"
        " shares with the driver: that node codes without it (give --cache-dir a folder every"
        " node mounts)."
    )
    return None


class _Scorer:
    """Ray actor: the model and the metrics, loaded once, scoring batches of item groups."""

    def __init__(self, work: list[ray.ObjectRef]) -> None:
        shared = _work(work)
        self.warnings: list[str] = []
        self.model = ModelStage(shared.task, shared.amp, shared.batch_size, self.warnings.append)
        self.metrics = MetricStage(shared.plan.metrics, self.warnings.append)
        self.device = resolve_device(shared.device)
        keep_freed_memory()
        self.model.setup(self.device)
        self.metrics.setup(self.device)
        seed_all(shared.seed)
        self.rows = RowBuilder(shared.task, shared.identity)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        groups: list[_Coded] = [pickle.loads(blob) for blob in batch["group"]]
        rows: list[dict[str, Any]] = []
        ready: list[Decoded] = []
        for group in groups:
            for outcome in group.outcomes:
                if isinstance(outcome, Decoded):
                    ready.append(outcome)
                elif outcome.job.write:
                    item_id = outcome.job.state.item.id
                    rows.append(self.rows.failed(item_id, outcome.job.setting, outcome.error))
        while ready:
            size = self.model.batch_size
            rows += score_batch(ready[:size], self.model, self.metrics, self.rows)
            ready = ready[size:]
        warnings, self.warnings[:] = [w for g in groups for w in g.warnings] + self.warnings, []
        scored = _Scored(
            rows,
            sum(g.skipped for g in groups),
            sum(g.without_reference for g in groups),
            warnings,
            self.device,
            self.model.batch_size,
        )
        return {"scored": np.array([pickle.dumps(scored, protocol=5)], dtype=object)}


class RaySweep:
    """The stages run by Ray Data; rows written here, through the same RowWriter and RunStore."""

    def __init__(
        self, task: Task, plan: SweepPlan, config: SweepConfig, store: RunStore, console: Console
    ) -> None:
        self.task = task
        self.plan = plan
        self.config = config
        self.store = store
        self.console = console
        self.shown: set[str] = set()
        self.hidden = 0

    def warn(self, message: str) -> None:
        """Say a worker's warning once; after a few, only count them."""
        if message in self.shown:
            return
        if len(self.shown) >= SHOWN_WARNINGS:
            self.hidden += 1
            return
        self.shown.add(message)
        self.console.print(f"[yellow]{message}[/]")

    def run(self, rows: RowBuilder) -> SweepSummary:
        started = _connect(self.config.ray_address)
        probe = _cache_probe(self.config.cache_dir, self.warn)
        progress = sweep_progress(self.task, self.plan, self.config, self.console)
        writer = RowWriter(self.store.write, progress.advance)
        summary = SweepSummary(self.store.path, batch_size=self.config.batch_size)
        try:
            with progress:
                without = self._sweep(rows, probe, writer, summary)
            if self.task.scores:
                report_without_reference(without, self.warn)
                self.store.update_manifest(items_without_reference=without)
            self.store.finish()
        except KeyboardInterrupt:
            summary.interrupted = True
            writer.flush()
            self.console.print(
                f"[yellow]Interrupted.[/] {writer.written} rows are safely stored in"
                f" {self.store.path}; run the same command again to resume."
            )
        finally:
            if probe is not None:
                probe.unlink(missing_ok=True)
            if started:
                ray.shutdown()
        if self.hidden:
            self.console.print(f"[yellow]{self.hidden} more warnings from the workers.[/]")
        summary.written, summary.failed = writer.written, writer.failed
        summary.skipped = writer.skipped
        return summary

    def _sweep(
        self, rows: RowBuilder, probe: Path | None, writer: RowWriter, summary: SweepSummary
    ) -> int:
        """Run the pipeline, its rows written in parts as they arrive (`RowWriter`); returns how
        many items had no reference."""
        work = _Work(
            task=self.task,
            plan=self.plan,
            done=self.store.done_keys(),
            identity=rows.identity,
            amp=self.config.amp,
            batch_size=max(1, self.config.batch_size),
            device=self.config.device,
            seed=self.config.seed,
            cache_dir=self.config.cache_dir if probe is not None else None,
            cache_probe=probe,
            on_decoded=None
            if self.config.on_decoded is None
            else _saving(self.config.on_decoded, self.store.path),
        )
        without = 0
        device = None
        for record in self._pipeline([ray.put(work)]).iter_rows():
            scored: _Scored = pickle.loads(record["scored"])
            if device is None:
                device = scored.device
                self.store.update_manifest(device=device)
            for warning in scored.warnings:
                self.warn(warning)
            for row in scored.rows:
                writer.add(row)
            writer.skip(scored.skipped)
            without += scored.without_reference
            summary.batch_size = min(summary.batch_size, scored.batch_size)
        writer.flush()
        return without

    def _pipeline(self, work: list[ray.ObjectRef]) -> ray.data.Dataset:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        # Ray Data reserves part of the cluster for each operator (ReservationOpResourceAllocator
        # in ray/data/_internal/execution/resource_manager.py); the model actor holds no CPU, so
        # that only idles CPUs the codec tasks could use.
        context.op_resource_reservation_enabled = False
        shards = _shards(self._item_count(), int(ray.cluster_resources().get("CPU", 1)))
        gpus = self._model_gpus()
        coded = ray.data.from_items(
            [{"start": start, "stop": stop} for start, stop in shards],
            override_num_blocks=max(1, len(shards)),
        ).map_batches(
            _code_shards,
            batch_size=1,
            batch_format="numpy",
            fn_kwargs={"work": work},
            num_cpus=1,
        )
        # Groups per model call: about one model batch of decoded items.
        groups = max(1, math.ceil(self.config.batch_size / len(self.plan.settings)))
        return coded.map_batches(
            _Scorer,
            batch_size=groups,
            batch_format="numpy",
            fn_constructor_kwargs={"work": work},
            compute=ray.data.ActorPoolStrategy(size=max(1, gpus)),
            num_gpus=1 if gpus else 0,
            # Like the local engine's model, the actor holds no CPU the codecs could use.
            num_cpus=0,
        )

    def _item_count(self) -> int:
        count = getattr(self.task, "count", lambda: None)()
        if count is None:
            self.console.print("The task does not say how many items it has: counting them here.")
            count = sum(1 for _ in islice(self.task.items(), self.config.limit))
        return count if self.config.limit is None else min(count, self.config.limit)

    def _model_gpus(self) -> int:
        """Model actors on GPUs: one per GPU of the cluster when the device is (or may be) cuda."""
        device = self.config.device
        if device != "auto" and not device.startswith("cuda"):
            return 0
        return int(ray.cluster_resources().get("GPU", 0))


def _shards(items: int, cpus: int) -> list[tuple[int, int]]:
    """Contiguous item ranges, `SHARDS_PER_CPU` per CPU (fewer when there are fewer items)."""
    count = max(1, min(items, SHARDS_PER_CPU * max(1, cpus)))
    bounds = [round(i * items / count) for i in range(count + 1)]
    return [(a, b) for a, b in pairwise(bounds) if b > a]


def _connect(address: str | None) -> bool:
    """Connect to the cluster at `address` (None: start Ray here) unless connected already;
    True when this call started the connection (the sweep then closes it)."""
    if ray.is_initialized():
        return False
    handler = signal.getsignal(signal.SIGTERM)
    ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False)
    if handler is not None and threading.current_thread() is threading.main_thread():
        # Ray's core worker sets its own SIGTERM handler, which aborts the driver with nothing
        # stored; the sweep's (SIGTERM stops it as Ctrl-C does) is put back.
        signal.signal(signal.SIGTERM, handler)
    return True


def _cache_probe(cache_dir: Path | None, warn: Callable[[str], None]) -> Path | None:
    """A file in the cache folder that nodes sharing its storage see; None: no cache."""
    if cache_dir is None:
        return None
    probe = Path(cache_dir) / f".node-probe-{uuid.uuid4().hex}"
    try:
        probe.parent.mkdir(parents=True, exist_ok=True)
        probe.write_text(socket.gethostname())
    except OSError as error:
        warn(f"The bitstream cache {cache_dir} cannot be written ({error}); coding without it.")
        return None
    return probe

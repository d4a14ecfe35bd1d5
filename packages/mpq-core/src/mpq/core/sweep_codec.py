"""The codec stage of a sweep: jobs in, decoded items (or failures) out.

A job is looked up in the bitstream cache first; a miss is encoded and decoded in this process
(`workers=0`) or in a pool of worker processes, all the settings of one item together
(`item_coding`): the item crosses into a worker once, the metrics that run beside the codec are
computed there, and the decoded item comes back only when `keep_decoded` says the sweep needs it
(the model reads it, a deep metric runs on it, or it is saved). Codecs that batch (neural codecs
on the model's device) code the jobs of one setting together in this process, byte for byte as
one at a time; a batch that fails is coded again item by item, so only the failing items fail. A
worker that dies (crash, out of memory) breaks the whole pool: its jobs, and every other job in
flight, are retried once in a fresh pool, each alone and one after another, so that only the
job that kills its worker fails. Every decoded item must have the original's shape; a
good result is cached and handed to the `on_decoded` hook. Reference jobs pass through with the
original item.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from mpq.core.cache import BitstreamCache
from mpq.core.codec import Codec, apply_setting_batch
from mpq.core.codec_pool import WorkerPool
from mpq.core.errors import RunStoreError
from mpq.core.files import UnreadFile
from mpq.core.item_coding import Coded, SettingWork, code_item, describe, looked_up, shape_error
from mpq.core.metric import Metric
from mpq.core.sweep_items import Failed, SweepJob
from mpq.core.sweep_plan import SweepPlan
from mpq.core.task import Task

WORKER_RETRIES = 1
WORKER_DIED = "the codec worker process died (crash or out of memory) on this item"


@dataclass
class Decoded:
    """A job's decoded item (None when the sweep does not need it back) and how it was coded:
    result, cache hit and the metrics computed beside the codec; `coded` is None for the
    reference."""

    job: SweepJob
    decoded: Any
    coded: Coded | None = None


Outcome = Decoded | Failed


class CodecStage:
    """Runs jobs through their codecs: `start` them, then `collect` what the pool finished.

    Jobs done at once (references, cache hits, in-process work) come back from `start`; jobs
    sent to the pool come back from later `collect` calls, in the order their items finish.
    `beside` are the metrics computed next to each decode.
    """

    def __init__(
        self,
        classes: dict[str, type[Codec]],
        workers: int,
        cache: BitstreamCache | None = None,
        on_decoded: Callable[[str, str, Any], None] | None = None,
        beside: tuple[type[Metric], ...] = (),
        keep_decoded: bool = True,
    ) -> None:
        self.classes = classes
        self.workers = workers
        self.cache = cache
        self.on_decoded = on_decoded
        self.beside = beside
        self.keep_decoded = keep_decoded or on_decoded is not None
        self.pool = WorkerPool(workers)
        # The jobs of each pool submission (one item's).
        self.inflight: dict[Future, list[SweepJob]] = {}
        self.pending = 0  # jobs in the pool whose outcome `collect` has not returned yet

    @classmethod
    def of(
        cls,
        plan: SweepPlan,
        task: Task,
        workers: int,
        cache: BitstreamCache | None,
        on_decoded: Callable[[str, str, Any], None] | None,
    ) -> CodecStage:
        """The codec stage of a sweep: its cheap metrics beside the codec, and decoded items
        back only if the model reads them or a deep metric needs them."""
        beside = tuple(type(metric) for metric in plan.metrics if metric.beside_codec)
        deep = any(not metric.beside_codec for metric in plan.metrics)
        return cls(plan.classes, workers, cache, on_decoded, beside, task.reads_decoded or deep)

    def start(self, jobs: list[SweepJob]) -> list[Outcome]:
        """Start jobs; returns the outcomes already known.

        Jobs of a codec that batches come one setting per call, so that it can take them all at
        once; other jobs are grouped by item, one worker submission per item.
        """
        if jobs and self.batches(jobs[0]):
            if len({job.setting.id for job in jobs}) > 1:
                raise ValueError("CodecStage.start takes the jobs of a batching codec one setting")
            return self._start_batch(jobs)
        by_item: dict[int, list[SweepJob]] = {}
        for job in jobs:
            by_item.setdefault(id(job.state), []).append(job)
        return [outcome for group in by_item.values() for outcome in self._start_item(group)]

    @property
    def reads_files(self) -> bool:
        """Whether file items can be read where they are coded: nothing in this process needs
        their content (the model, a deep metric or the saving hook) and no codec batches here."""
        return not self.keep_decoded and not any(cls.batches for cls in self.classes.values())

    def batches(self, job: SweepJob) -> bool:
        """Whether `job`'s codec codes many items at once (never for a rate target)."""
        setting = job.setting
        return (
            not setting.is_reference
            and setting.target is None
            and self.classes[setting.codec].batches
        )

    def _start_batch(self, jobs: list[SweepJob]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        misses: list[tuple[SweepJob, SettingWork]] = []
        for job in jobs:
            [work] = self._looked_up([job])
            if work.cached is None:
                misses.append((job, work))
            elif work.cached.decoded is not None:
                outcomes.append(self._accept(job, Coded(work.cached, cache_hit=True)))
            else:
                outcomes += self._in_process([job], [work])
        if not misses:
            return outcomes
        cls, setting = self.classes[misses[0][0].setting.codec], misses[0][0].setting
        try:
            results = apply_setting_batch(cls, setting, [job.state.item.data for job, _ in misses])
        except Exception:  # one bad item: code them one by one, so only it fails
            return outcomes + [o for job, work in misses for o in self._in_process([job], [work])]
        pairs = zip(misses, results, strict=True)
        return outcomes + [
            self._accept(job, Coded(result), new_key=work.cache_key)
            for (job, work), result in pairs
        ]

    def _start_item(self, jobs: list[SweepJob]) -> list[Outcome]:
        """Jobs of one item: the reference and decoded cache hits at once, the rest together;
        an unread file's jobs, its reference too, all where it is read (and looked up there)."""
        if isinstance(jobs[0].state.item.data, UnreadFile):
            return self._submit(jobs, [SettingWork(self._codec(job), job.setting) for job in jobs])
        outcomes: list[Outcome] = [
            Decoded(job, job.state.item.data) for job in jobs if job.setting.is_reference
        ]
        coded = [job for job in jobs if not job.setting.is_reference]
        todo: list[SweepJob] = []
        todo_work: list[SettingWork] = []
        for job, work in zip(coded, self._looked_up(coded), strict=True):
            if work.cached is not None and work.cached.decoded is not None:
                outcomes.append(self._accept(job, Coded(work.cached, cache_hit=True)))
            else:
                todo.append(job)
                todo_work.append(work)
        return outcomes + self._submit(todo, todo_work) if todo else outcomes

    def _looked_up(self, jobs: list[SweepJob]) -> list[SettingWork]:
        """The work of coded jobs of one item in memory, with their cache keys and hits."""
        work = [SettingWork(self._codec(job), job.setting) for job in jobs]
        if self.cache is None or not jobs:
            return work
        return looked_up(self.cache, jobs[0].state.content_hash or "", work)

    def _codec(self, job: SweepJob) -> type[Codec] | None:
        """The class that codes `job`; None for the reference."""
        return None if job.setting.is_reference else self.classes[job.setting.codec]

    def _submit(self, jobs: list[SweepJob], work: list[SettingWork]) -> list[Outcome]:
        """Jobs of one item to the pool (their outcomes come from `collect`), or coded here."""
        if self.workers <= 0:
            return self._in_process(jobs, work)
        future = self.pool.submit(code_item, *self._arguments(jobs, work))
        self.inflight[future] = jobs
        self.pending += len(jobs)
        return []

    def _arguments(self, jobs: list[SweepJob], work: list[SettingWork]) -> tuple:
        """`code_item`'s arguments for jobs of one item."""
        root = None if self.cache is None else self.cache.root
        return jobs[0].state.item.data, work, self.beside, self.keep_decoded, root

    def _in_process(self, jobs: list[SweepJob], work: list[SettingWork]) -> list[Outcome]:
        return self._outcomes(jobs, code_item(*self._arguments(jobs, work)))

    def _outcomes(self, jobs: list[SweepJob], coded: list[Coded | str]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for job, entry in zip(jobs, coded, strict=True):
            if isinstance(entry, str):
                outcomes.append(Failed(job, entry))
            elif entry.result is None:  # the reference of an unread file: it could be read
                outcomes.append(Decoded(job, None))
            else:  # cached where it was coded
                outcomes.append(self._accept(job, entry))
        return outcomes

    def collect(self, block: bool) -> list[Outcome]:
        """Outcomes of pool jobs finished now; with `block`, waits for at least one item."""
        if not self.inflight:
            return []
        finished, _ = wait(
            list(self.inflight), timeout=None if block else 0, return_when=FIRST_COMPLETED
        )
        outcomes: list[Outcome] = []
        broken: list[SweepJob] = []
        for future in finished:
            jobs = self.inflight.pop(future)
            self.pending -= len(jobs)
            try:
                coded = future.result()
            except BrokenProcessPool:
                broken += jobs
            except RunStoreError:  # the cache cannot be written: stop, the rows are stored
                raise
            except Exception as error:
                outcomes += [Failed(job, describe(error)) for job in jobs]
            else:
                outcomes += self._outcomes(jobs, coded)
        if broken:
            outcomes += self._restart_pool(broken)
        return outcomes

    def start_workers(self) -> None:
        """Start the pool before the first item, unless every codec batches (and codes here)."""
        if self.workers > 0 and not all(cls.batches for cls in self.classes.values()):
            self.pool.start()

    def close(self) -> None:
        self.pool.reset()

    def _restart_pool(self, broken: list[SweepJob]) -> list[Outcome]:
        """A worker died: retry its jobs, and all others in flight, once in a fresh pool.

        Each retry runs alone in the pool, the next one only once it is done: a setting that
        kills its worker again then takes no other job down with it (retried side by side,
        the jobs sharing the new pool on their last attempt all failed with it)."""
        broken += [job for jobs in self.inflight.values() for job in jobs]
        self.inflight.clear()
        self.pending = 0
        self.pool.reset()
        outcomes: list[Outcome] = []
        for job in broken:
            if job.attempts >= WORKER_RETRIES:
                outcomes.append(Failed(job, WORKER_DIED))
                continue
            job.attempts += 1
            outcomes += self._start_item([job])
            while self.inflight:
                outcomes += self.collect(block=True)
        return outcomes

    def _accept(self, job: SweepJob, coded: Coded, new_key: str | None = None) -> Outcome:
        """`job`'s outcome once its decoded item has the original's shape; a result coded in
        this process (not by `code_item`, which caches its own) is cached under `new_key`."""
        result = coded.result
        if result.decoded is not None:
            wrong_shape = shape_error(job.setting.codec, job.state.item.data, result.decoded)
            if wrong_shape is not None:
                return Failed(job, wrong_shape)
        if self.cache is not None and new_key is not None:
            self.cache.put(new_key, result)
        if self.on_decoded is not None:
            self.on_decoded(job.state.item.id, job.setting.id, result.decoded)
        return Decoded(job, result.decoded, coded)

"""The codec stage of a sweep: jobs in, decoded items (or failures) out.

A job is looked up in the bitstream cache first; a miss is encoded and decoded in this process
(`workers=0`) or in a pool of worker processes. Codecs that batch (neural codecs on the model's
device) code the jobs of one setting together in this process, byte for byte as one at a time;
a batch that fails is coded again item by item, so only the failing items fail. A worker that
dies (crash, out of memory) breaks the whole pool: its jobs, and every other job in flight, are
retried once in a fresh pool. Every decoded item must have the original's shape; a good result
is cached and handed to the `on_decoded` hook. Reference jobs pass through with the original
item.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from mpq.core.cache import BitstreamCache
from mpq.core.codec import Codec, CodecResult, apply_setting, apply_setting_batch, redecode
from mpq.core.codec_pool import WorkerPool
from mpq.core.sweep_items import Failed, SweepJob

WORKER_RETRIES = 1
WORKER_DIED = "the codec worker process died (crash or out of memory) on this item"


@dataclass
class Decoded:
    """A job's decoded item; `result` and `cache_hit` are None for the reference."""

    job: SweepJob
    decoded: Any
    result: CodecResult | None = None
    cache_hit: bool | None = None


Outcome = Decoded | Failed


class CodecStage:
    """Runs jobs through their codecs: `start` them, then `collect` what the pool finished.

    Jobs done at once (references, cache hits, in-process work) come back from `start`; jobs
    sent to the pool come back from later `collect` calls, in the order they finish.
    """

    def __init__(
        self,
        classes: dict[str, type[Codec]],
        workers: int,
        cache: BitstreamCache | None = None,
        on_decoded: Callable[[str, str, Any], None] | None = None,
    ) -> None:
        self.classes = classes
        self.workers = workers
        self.cache = cache
        self.on_decoded = on_decoded
        self.pool = WorkerPool(workers)
        self.inflight: dict[Future, SweepJob] = {}

    @property
    def pending(self) -> int:
        """Jobs in the pool whose outcome `collect` has not returned yet."""
        return len(self.inflight)

    def start(self, jobs: list[SweepJob]) -> list[Outcome]:
        """Start jobs of one setting; returns the outcomes already known.

        One setting per call, so that a codec that codes many items at once can take them all.
        """
        if len({job.setting.id for job in jobs}) > 1:
            raise ValueError("CodecStage.start takes jobs of one setting")
        if jobs and self.batches(jobs[0]):
            return self._start_batch(jobs)
        outcomes = (self._start(job) for job in jobs)
        return [outcome for outcome in outcomes if outcome is not None]

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
        misses: list[SweepJob] = []
        for job in jobs:
            cached = self._cache_get(job)
            if cached is None:
                misses.append(job)
            elif cached.decoded is not None:
                outcomes.append(self._accept(job, cached, cache_hit=True))
            else:
                outcomes.append(self._in_process(job, cached))
        if not misses:
            return outcomes
        cls, setting = self.classes[misses[0].setting.codec], misses[0].setting
        try:
            results = apply_setting_batch(cls, setting, [job.state.item.data for job in misses])
        except Exception:  # one bad item: code them one by one, so only it fails
            return outcomes + [self._in_process(job, None) for job in misses]
        pairs = zip(misses, results, strict=True)
        return outcomes + [self._accept(job, result, cache_hit=False) for job, result in pairs]

    def collect(self, block: bool) -> list[Outcome]:
        """Outcomes of pool jobs finished now; with `block`, waits for at least one."""
        if not self.inflight:
            return []
        finished, _ = wait(
            list(self.inflight), timeout=None if block else 0, return_when=FIRST_COMPLETED
        )
        outcomes: list[Outcome] = []
        broken: list[SweepJob] = []
        for future in finished:
            job = self.inflight.pop(future)
            try:
                result = future.result()
            except BrokenProcessPool:
                broken.append(job)
            except Exception as error:
                outcomes.append(Failed(job, describe(error)))
            else:
                outcomes.append(self._accept(job, result, cache_hit=False))
        if broken:
            outcomes += self._restart_pool(broken)
        return outcomes

    def close(self) -> None:
        self.pool.reset()

    def _start(self, job: SweepJob) -> Outcome | None:
        if job.setting.is_reference:
            return Decoded(job, job.state.item.data)
        cls = self.classes[job.setting.codec]
        cached = self._cache_get(job)
        if cached is not None and cached.decoded is not None:
            return self._accept(job, cached, cache_hit=True)
        if self.workers <= 0:
            return self._in_process(job, cached)
        if cached is not None:
            future = self.pool.submit(redecode, cls, cached)
        else:
            future = self.pool.submit(apply_setting, cls, job.setting, job.state.item.data)
        self.inflight[future] = job
        return None

    def _in_process(self, job: SweepJob, cached: CodecResult | None) -> Outcome:
        cls = self.classes[job.setting.codec]
        try:
            if cached is not None:
                result = redecode(cls, cached)
            else:
                result = apply_setting(cls, job.setting, job.state.item.data)
        except Exception as error:
            return Failed(job, describe(error))
        return self._accept(job, result, cache_hit=cached is not None)

    def _restart_pool(self, broken: list[SweepJob]) -> list[Outcome]:
        """A worker died: retry its jobs, and all others in flight, once in a fresh pool."""
        broken += list(self.inflight.values())
        self.inflight.clear()
        self.pool.reset()
        outcomes: list[Outcome] = []
        for job in broken:
            if job.attempts >= WORKER_RETRIES:
                outcomes.append(Failed(job, WORKER_DIED))
            else:
                job.attempts += 1
                outcome = self._start(job)
                if outcome is not None:
                    outcomes.append(outcome)
        return outcomes

    def _accept(self, job: SweepJob, result: CodecResult, cache_hit: bool) -> Outcome:
        expected, got = np.shape(job.state.item.data), np.shape(result.decoded)
        if expected != got:
            return Failed(
                job, f"codec {job.setting.codec!r} decoded shape {got}, original is {expected}"
            )
        if self.cache is not None and not cache_hit:
            self.cache.put(self._cache_key(job), result)
        if self.on_decoded is not None:
            self.on_decoded(job.state.item.id, job.setting.id, result.decoded)
        return Decoded(job, result.decoded, result, cache_hit)

    def _cache_key(self, job: SweepJob) -> str:
        version = self.classes[job.setting.codec].version
        return BitstreamCache.key(job.state.content_hash or "", job.setting, version)

    def _cache_get(self, job: SweepJob) -> CodecResult | None:
        if self.cache is None:
            return None
        return self.cache.get(self._cache_key(job))


def describe(error: BaseException) -> str:
    """An exception as a failed row's error text."""
    return f"{type(error).__name__}: {error}"

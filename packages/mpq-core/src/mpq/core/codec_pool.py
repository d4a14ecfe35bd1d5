"""The pool of codec worker processes: spawned, single-threaded, and gone with their parent.

Workers are spawned rather than forked, so they do not inherit the parent's model or threads.
Each ignores Ctrl-C (the parent handles it and stores the rows it has) and watches its parent:
a parent killed with SIGKILL cannot shut its pool down, and its workers must not live on.

A spawned worker first runs the parent's main script again, as ``__mp_main__`` (CPython's
multiprocessing/spawn.py: `get_preparation_data` sends the path of ``__main__``'s file and
`_fixup_main_from_path` runs it; a ``-c`` command or a ``python -m pkg`` run of a
``__main__`` module is left alone), so that whatever that script defines unpickles in the worker.
For the `mpq` console scripts that script imports only the command-line module, which loads
click and a few small modules; the codec work itself comes from the modules its jobs name.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

PARENT_POLL_S = 0.5
WORKER_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def default_workers(items: int | None = None) -> int:
    """One codec worker per usable core; none on one core, where a pool cannot win. The workers
    code and compute the metrics beside the codec, the bulk of most sweeps: one worker fewer,
    to leave the model a core, made the image demo 1.5x slower on two cores, and halved the
    speed of a compress sweep with MS-SSIM (benchmarks/sweep_floor.py). An item's settings are
    coded by one worker, so there are never more workers than items, and none for one item:
    starting a worker would only add its start-up."""
    cores = len(os.sched_getaffinity(0))
    workers = 0 if cores <= 1 else cores
    if items is not None:
        workers = 0 if items <= 1 else min(workers, items)
    return workers


class WorkerPool:
    """A process pool started on the first submission; `reset` drops it (a broken one, say)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, fn: Any, *args: Any) -> Future:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("spawn"),
                initializer=_worker_init,
                initargs=(os.getpid(),),
            )
        return self._pool.submit(fn, *args)

    def start(self) -> None:
        """Start every worker now: each imports for a few hundred milliseconds, which can
        overlap the caller's own start (reading the run's stored rows, loading the model)."""
        for _ in range(self.workers):
            self.submit(os.getpid)

    def reset(self) -> None:
        """Stop the pool without waiting; the next submission starts a fresh one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _worker_init(parent: int) -> None:
    """One codec per core: workers run single-threaded, leave Ctrl-C and SIGTERM (which a
    batch scheduler may send to every process of a job) to the parent and end when it ends,
    even when it is killed and cannot shut them down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
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

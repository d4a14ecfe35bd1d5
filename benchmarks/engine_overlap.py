"""Does the engine overlap codec work with inference, and does the bitstream cache pay off?

Uses mpq.core.testing's synthetic codec (burns a known CPU time per encode) and synthetic task
(waits a known time per batch without using the CPU, as a GPU model does). Every figure is the
median of interleaved rounds (each round runs every contender once), with its min-max:

- overlap: the sweep's wall time / its floor, the slowest stage run alone (target <= 1.15), for a
  sweep whose codec and model stages cost about the same (64 px items, 40 ms per encode, 75 ms
  per batch of 8);
- realistic overlap: the same ratio for cheap stages on larger items, where moving items between
  processes and writing rows weigh most (256 px items, 2 ms per encode, 4 ms per batch of 8;
  target <= 1.3);
- cache: a warm-cache re-run's wall time / the cold run (target <= 0.1), for a codec-bound sweep
  (like mbt2018 on CPU in front of a ViT on a GPU).

Run: python benchmarks/engine_overlap.py [--rounds 5]  (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import count
from multiprocessing import get_context
from pathlib import Path

from interleave import DEFAULT_ROUNDS, print_times, ratio, rounds, verdict

from mpq.core.codec import Setting, apply_setting
from mpq.core.engine import SweepConfig, run_sweep
from mpq.core.testing import SyntheticCodec, SyntheticTask

CODEC = "python:mpq.core.testing:SyntheticCodec"


def settings(cost_ms: float) -> list[Setting]:
    return [Setting(CODEC, (("quality", q), ("cost_ms", cost_ms))) for q in (10, 60)]


def codec_stage(task: SyntheticTask, grid: list[Setting], workers: int) -> float:
    """Every encode+decode of the sweep through the same kind of pool, nothing else."""
    images = [item.data for item in task.items()]
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(apply_setting, SyntheticCodec, s, im) for im in images for s in grid]
        for job in jobs:
            job.result()
    return time.perf_counter() - start


def model_stage(task: SyntheticTask, grid: list[Setting], batch_size: int) -> float:
    """Every model batch of the sweep (reference rows included), nothing else."""
    images = [item.data for item in task.items()]
    rows = len(images) * (len(grid) + 1)
    start = time.perf_counter()
    for _ in range(math.ceil(rows / batch_size)):
        task.predict(images[:batch_size])
    return time.perf_counter() - start


def sweep(task, grid, workers, batch_size, out: Path, cache: Path | None) -> float:
    config = SweepConfig(
        settings=grid,
        workers=workers,
        batch_size=batch_size,
        device="cpu",  # the synthetic model needs no torch; a real one pays its import in both
        cache_dir=cache,
        progress=False,
    )
    start = time.perf_counter()
    summary = run_sweep(task, out, config)
    assert summary.failed == 0, "benchmark sweep had failed rows"
    return time.perf_counter() - start


def overlap(name, task, codec_ms: float, args, root: Path, target: float) -> None:
    """Rounds of the whole sweep and each stage alone; the sweep against the slowest stage."""
    grid, runs = settings(codec_ms), count()
    seconds = rounds(
        {
            "codec stage alone": lambda: codec_stage(task, grid, args.workers),
            "model stage alone": lambda: model_stage(task, grid, args.batch_size),
            "whole sweep": lambda: sweep(
                task, grid, args.workers, args.batch_size, root / f"{name}{next(runs)}", None
            ),
        },
        args.rounds,
    )
    codec_s, model_s = seconds["codec stage alone"], seconds["model stage alone"]
    floor = [max(c, m) for c, m in zip(codec_s, model_s, strict=True)]
    print(f"{name} scenario: {task.count()} items of {task.size} px x {len(grid)} settings +")
    print(f"  reference, codec {codec_ms:g} ms/encode on {args.workers} workers, model")
    print(
        f"  {task.model_ms:g} ms per batch of {args.batch_size}; {args.rounds} interleaved rounds:"
    )
    print_times(seconds)
    print(f"  sweep / slowest stage = {verdict(ratio(seconds['whole sweep'], floor), target)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        balanced = SyntheticTask(items=args.items, size=64, model_ms=75.0)
        overlap("overlap", balanced, 40.0, args, root, 1.15)
        realistic = SyntheticTask(items=args.items, size=256, model_ms=4.0)
        overlap("realistic", realistic, 2.0, args, root, 1.3)

        heavy = SyntheticTask(items=args.items // 2, size=64, model_ms=10.0)
        heavy_grid = settings(400.0)
        cold, warm = [], []
        for n in range(args.rounds):  # each round: a cold run into a new cache, then warm
            cache = root / f"cache{n}"
            cold.append(sweep(heavy, heavy_grid, args.workers, args.batch_size,
                              root / f"cold{n}", cache))  # fmt: skip
            warm.append(sweep(heavy, heavy_grid, args.workers, args.batch_size,
                              root / f"warm{n}", cache))  # fmt: skip
        print(f"cache scenario: {args.items // 2} items x {len(heavy_grid)} settings, codec 400 ms")
        print(f"  per encode, model 10 ms per batch; {args.rounds} rounds of cold then warm:")
        print_times({"cold cache": cold, "warm cache": warm})
        print(f"  warm / cold = {verdict(ratio(warm, cold), 0.1)}")


if __name__ == "__main__":
    main()

"""Does the engine overlap codec work with inference, and does the bitstream cache pay off?

Uses mpq.core.testing's synthetic codec (burns a known CPU time per encode) and synthetic task
(waits a known time per batch without using the CPU, as a GPU model does). Prints:

- overlap: the sweep's wall time / the slowest stage run alone (target <= 1.15), for a sweep whose
  codec and model stages cost about the same;
- cache: a warm-cache re-run's wall time / the cold run (target <= 0.1), for a codec-bound sweep
  (like mbt2018 on CPU in front of a ViT on a GPU).

Run: python benchmarks/engine_overlap.py  (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=96)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--codec-ms", type=float, default=40.0, help="overlap scenario")
    parser.add_argument("--model-ms", type=float, default=75.0, help="overlap scenario, per batch")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        task = SyntheticTask(items=args.items, size=64, model_ms=args.model_ms)
        grid = settings(args.codec_ms)
        codec_s = codec_stage(task, grid, args.workers)
        model_s = model_stage(task, grid, args.batch_size)
        sweep_s = sweep(task, grid, args.workers, args.batch_size, root / "overlap", None)
        overlap = sweep_s / max(codec_s, model_s)
        print(f"overlap scenario: {args.items} items x {len(grid)} settings + reference,")
        print(f"  codec {args.codec_ms:g} ms/encode on {args.workers} workers, model")
        print(f"  {args.model_ms:g} ms per batch of {args.batch_size}")
        print(f"  codec stage alone  {codec_s:6.2f} s")
        print(f"  model stage alone  {model_s:6.2f} s")
        print(f"  whole sweep        {sweep_s:6.2f} s")
        verdict = "met" if overlap <= 1.15 else "MISSED"
        print(f"  sweep / slowest stage = {overlap:.3f}  (target <= 1.15: {verdict})")

        heavy = SyntheticTask(items=args.items // 2, size=64, model_ms=10.0)
        heavy_grid = settings(400.0)
        cache = root / "cache"
        cold_s = sweep(heavy, heavy_grid, args.workers, args.batch_size, root / "cold", cache)
        warm_s = sweep(heavy, heavy_grid, args.workers, args.batch_size, root / "warm", cache)
        ratio = warm_s / cold_s
        print(f"cache scenario: {args.items // 2} items x {len(heavy_grid)} settings, codec 400 ms")
        print(f"  per encode, model 10 ms per batch: cold {cold_s:.2f} s, warm {warm_s:.2f} s")
        verdict = "met" if ratio <= 0.1 else "MISSED"
        print(f"  warm / cold = {ratio:.3f}  (target <= 0.1: {verdict})")


if __name__ == "__main__":
    main()

"""What does the Ray backend cost on one machine, and does it scale with CPUs?

Uses mpq.core.testing's synthetic codec (burns a known CPU time per encode) and synthetic task
(waits a known time per batch without using the CPU, as a GPU model does) on a codec-bound sweep,
like mbt2018 on CPU in front of a ViT on a GPU. Prints, as medians of interleaved runs:

- ray / local: the Ray backend's wall time on a local Ray of 2 CPUs over the local engine's with
  2 codec workers, same sweep (target <= 1.3). Ray runs one small sweep first on each start,
  untimed (its own actors and the workers' imports, paid once per cluster and job; the time it
  took is printed); each timed sweep still starts its own model actor;
- 2 / 1 CPUs: the Ray backend's rows per second with 2 CPUs over 1 (target >= 1.8).

Needs ray (pip install 'mpq-core[ray]'). Run: python benchmarks/ray_backend.py (a few minutes on
2 cores; a machine shared with other work gives noisy figures).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ray

from mpq.core.codec import Setting
from mpq.core.engine import SweepConfig, run_sweep
from mpq.core.testing import SyntheticTask

CODEC = "python:mpq.core.testing:SyntheticCodec"


def sweep(task: SyntheticTask, config: SweepConfig, out: Path) -> float:
    start = time.perf_counter()
    summary = run_sweep(task, out, config)
    assert summary.failed == 0, "benchmark sweep had failed rows"
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--codec-ms", type=float, default=200.0, help="CPU time per encode")
    parser.add_argument("--model-ms", type=float, default=20.0, help="per batch")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    task = SyntheticTask(items=args.items, model_ms=args.model_ms)
    grid = [Setting(CODEC, (("quality", q), ("cost_ms", args.codec_ms))) for q in (10, 60)]
    rows = args.items * (len(grid) + 1)

    def config(backend: str) -> SweepConfig:
        # The synthetic model needs no torch; a real one pays its import in both backends.
        return SweepConfig(
            settings=grid,
            workers=2,
            batch_size=args.batch_size,
            device="cpu",
            cache_dir=None,
            progress=False,
            backend=backend,
        )

    times: dict[str, list[float]] = {"local": [], "ray-2": [], "ray-1": []}
    warmups: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:

        def start_ray(cpus: int, repeat: int) -> None:
            ray.init(num_cpus=cpus, include_dashboard=False, logging_level="warning")
            small = SyntheticTask(items=4, model_ms=args.model_ms)
            warmups.append(sweep(small, config("ray"), Path(tmp) / f"warm-{cpus}-{repeat}"))

        for repeat in range(args.repeats):
            start_ray(2, repeat)
            order = ("local", "ray") if repeat % 2 == 0 else ("ray", "local")
            for backend in order:
                name = "local" if backend == "local" else "ray-2"
                out = Path(tmp) / f"{name}-{repeat}"
                times[name].append(sweep(task, config(backend), out))
            ray.shutdown()
            start_ray(1, repeat)
            times["ray-1"].append(sweep(task, config("ray"), Path(tmp) / f"ray-1-{repeat}"))
            ray.shutdown()
            print({name: round(values[-1], 2) for name, values in times.items()}, flush=True)

    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"{rows} rows, {args.items * len(grid)} encodes of {args.codec_ms:g} ms;"
        f" median wall time: local {median['local']:.2f} s, Ray 2 CPUs {median['ray-2']:.2f} s,"
        f" Ray 1 CPU {median['ray-1']:.2f} s"
    )
    print(f"first (untimed) sweep on a fresh Ray, median: {statistics.median(warmups):.2f} s")
    print(f"ray / local (2 CPUs): {median['ray-2'] / median['local']:.2f}  (target <= 1.3)")
    print(f"throughput 2 / 1 CPUs: {median['ray-1'] / median['ray-2']:.2f}x  (target >= 1.8)")


if __name__ == "__main__":
    main()

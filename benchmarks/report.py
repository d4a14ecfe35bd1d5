"""How long `mpq-report build` takes on a 1,000,000-row run, with and without bootstrap CIs.

Writes a synthetic run (50,000 items x 20 codec settings + the reference: 1,050,000 rows, with a
task statistic and two similarity metrics per row) through mpq-core's record schema, then times
`mpq-report build` in a child process, in interleaved rounds of `--resamples 1000` and its floor,
`--resamples 0` (the same build without intervals), and reads the peak resident memory.
Targets: with 1000 resamples (61 aggregates of 50,000 items) at most 1.5x the build without
(median of per-round ratios); peak memory under 2 GB.

Run: python benchmarks/report.py [--items 50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from interleave import DEFAULT_ROUNDS, print_times, ratio, rounds, verdict

from mpq.core.records import FIXED_FIELDS, SCHEMA_VERSION, rows_to_table
from mpq.core.store import MANIFEST, RESULTS, new_manifest

CODECS = {"jpeg": 1.0, "webp": 0.8, "avif": 0.65, "mbt2018": 0.55}
QUALITIES = (5, 10, 25, 50, 75)
PIXELS = 500 * 375


def synthetic_run(path: Path, items: int) -> int:
    rng = np.random.default_rng(0)
    settings = [("none", "none", None)] + [
        (f"{c}:quality={q}", c, q) for c in CODECS for q in QUALITIES
    ]
    columns: dict[str, list] = {f.name: [] for f in FIXED_FIELDS}
    stats, psnr, ssim = [], [], []
    ids = np.array([f"ILSVRC2012_val_{i:08d}" for i in range(items)])
    for setting, codec, quality in settings:
        n = items
        bpp = None if quality is None else CODECS[codec] * quality / 50 * rng.uniform(0.8, 1.2, n)
        accuracy = 0.8 if quality is None else 0.8 - 0.3 * np.exp(-quality / 15 / CODECS[codec])
        columns["item_id"].append(ids)
        columns["setting"].append(np.full(n, setting))
        columns["codec"].append(np.full(n, codec))
        columns["status"].append(np.full(n, "ok"))
        columns["bpp"].append(np.full(n, np.nan) if bpp is None else bpp)
        columns["bytes"].append(
            np.zeros(n, np.int64) if bpp is None else (bpp * PIXELS / 8).astype(np.int64)
        )
        columns["pixels"].append(np.full(n, PIXELS))
        stats.append((rng.random(n) < accuracy).astype(float))
        level = 0 if quality is None else quality
        psnr.append(np.full(n, np.nan) if quality is None else 22 + level / 8 + rng.normal(0, 2, n))
        ssim.append(
            np.full(n, np.nan)
            if quality is None
            else 1 - np.exp(-level / 30) * rng.uniform(0.5, 1, n)
        )
    total = items * len(settings)
    table = rows_to_table([])
    arrays = []
    for field in FIXED_FIELDS:
        values = columns[field.name]
        if values:
            arrays.append(pa.array(np.concatenate(values), type=field.type, from_pandas=True))
        elif field.name == "schema_version":
            arrays.append(pa.array(np.full(total, SCHEMA_VERSION), type=field.type))
        elif field.name in ("task", "dataset", "model", "run_id"):
            arrays.append(
                pa.array(
                    np.full(
                        total,
                        {
                            "task": "classify",
                            "dataset": "imagenet-1k",
                            "model": "vit-base",
                            "run_id": "bench",
                        }[field.name],
                    )
                )
            )
        else:
            arrays.append(pa.nulls(total, type=field.type))
    names = [f.name for f in FIXED_FIELDS] + ["stat.correct", "metric.psnr", "metric.ssim"]
    arrays += [pa.array(np.concatenate(x)) for x in (stats, psnr, ssim)]
    table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(table.schema.metadata)
    (path / RESULTS).mkdir(parents=True)
    pq.write_table(table, path / RESULTS / "part-000001-bench.parquet")
    manifest = new_manifest(
        task="classify",
        status="complete",
        codecs=[s for s, _, _ in settings],
        codec_knobs={c: "quality" for c in CODECS},
        scores={"top1": {"aggregator": "mean", "inputs": ["correct"], "label": "Top-1 accuracy",
                         "higher_is_better": True}},
        metrics={"psnr": {"higher_is_better": True}, "ssim": {"higher_is_better": True}},
    )  # fmt: skip
    (path / MANIFEST).write_text(json.dumps(manifest))
    return total


def build(run: Path, out: str, resamples: int) -> None:
    command = [sys.executable, "-m", "mpq.report", "build", str(run), "--out", out,
               "--resamples", str(resamples)]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        start = time.perf_counter()
        rows = synthetic_run(run, args.items)
        print(f"synthetic run: {rows:,} rows written in {time.perf_counter() - start:.1f} s")
        contenders = {
            f"build --resamples {n}": lambda n=n: build(run, f"{tmp}/report{n}", n)
            for n in (1000, 0)
        }
        seconds = rounds(contenders, args.rounds)
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
        print(f"mpq-report build, {args.rounds} interleaved rounds, median [min-max]:")
        print_times(seconds)
        ratios = ratio(seconds["build --resamples 1000"], seconds["build --resamples 0"])
        print(f"  --resamples 1000 / --resamples 0: {verdict(ratios, 1.5)}")
        print(
            f"  peak memory {peak_gb:.2f} GB (target < 2 GB: {'met' if peak_gb < 2 else 'MISSED'})"
        )


if __name__ == "__main__":
    main()

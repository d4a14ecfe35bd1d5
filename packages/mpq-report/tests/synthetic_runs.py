"""Run directories with known values, written through mpq-core's store as a sweep would."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mpq.core.records import SCHEMA_VERSION
from mpq.core.store import RunStore, new_manifest

SCORES = {
    "accuracy": {"aggregator": "mean", "inputs": ["correct"], "label": "Top-1 accuracy",
                 "higher_is_better": True},
}  # fmt: skip
METRICS = {"psnr": {"higher_is_better": True, "input_range": "uint8"}}
PIXELS = 100 * 100


def write_run(
    path: Path,
    curves: dict[str, list[tuple[int, float, float, float]]],
    n: int = 50,
    task: str = "classify",
    dataset: str = "beans",
    reference_accuracy: float = 1.0,
    unit: str = "bpp",
    complete: bool = True,
    failed: dict[str, int] | None = None,
    targets: dict[str, list[tuple[float, float, float, float]]] | None = None,
) -> Path:
    """curves: codec -> [(quality, rate, accuracy, psnr)]; accuracy is exact: k of n correct.

    targets: codec -> [(target rate, rate reached, accuracy, psnr)], rate-targeted settings
    (``codec:bpp=0.25``) whose rows record the target as a sweep does.
    """
    targets = targets or {}
    settings = ["none"] + [f"{c}:quality={q}" for c, pts in curves.items() for q, *_ in pts]
    settings += [f"{c}:{unit}={t:g}" for c, pts in targets.items() for t, *_ in pts]
    manifest = new_manifest(
        task=task, codecs=settings, scores=SCORES, metrics=METRICS,
        codec_knobs={c: "quality" for c in [*curves, *targets]},
        task_config={"dataset": dataset},
    )  # fmt: skip
    rows = [
        _row(task, dataset, f"i{i:03d}", "none", "none", None, float(i < reference_accuracy * n))
        for i in range(n)
    ]
    failed = failed or {}
    for codec, points in curves.items():
        for quality, rate, accuracy, psnr in points:
            setting = f"{codec}:quality={quality}"
            for i in range(n):
                row = _row(task, dataset, f"i{i:03d}", setting, codec, (rate, unit),
                           float(i < round(accuracy * n)), psnr + (i % 5 - 2) * 0.1)  # fmt: skip
                if i < failed.get(setting, 0):
                    row.update(status="failed", error="codec error", bytes=None, bpp=None)
                    row.pop("stat.correct")
                    row.pop("metric.psnr")
                rows.append(row)
    for codec, points in targets.items():
        for target, rate, accuracy, psnr in points:
            for i in range(n):
                row = _row(task, dataset, f"i{i:03d}", f"{codec}:{unit}={target:g}", codec,
                           (rate, unit), float(i < round(accuracy * n)), psnr)  # fmt: skip
                rows.append({**row, "target_unit": unit, "target_value": target})
    store = RunStore.open(path, manifest)
    for row in rows:
        row["run_id"] = store.manifest["run_id"]
    store.write(rows)
    if complete:
        store.finish()
    store.close()
    return path


def write_compress_run(root: Path, codec: str = "python:mpq.core.testing:SyntheticCodec"):
    """The run a `compress` command makes of two files (no model, no task score), through
    core's sweep engine; returns the run directory and the files."""
    from mpq.core.codec import parse_codec_spec
    from mpq.core.engine import SweepConfig, run_sweep
    from mpq.core.files import FileItems
    from mpq.core.testing import load_synthetic_file

    folder = root / "files"
    folder.mkdir()
    files = [folder / name for name in ("img00000", "img00001")]
    config = SweepConfig(parse_codec_spec(f"{codec}:quality=2,95"), workers=0, cache_dir=None,
                         progress=False)  # fmt: skip
    run_sweep(FileItems("image", [folder], files, load_synthetic_file), root / "run", config)
    return root / "run", files


def _row(task, dataset, item, setting, codec, rate, correct, psnr=None):
    row = {
        "schema_version": SCHEMA_VERSION, "task": task, "dataset": dataset,
        "model": "m", "item_id": item, "setting": setting, "codec": codec, "status": "ok",
        "stat.correct": correct,
    }  # fmt: skip
    if rate is not None:
        value, unit = rate
        if unit == "bpp":
            row.update(
                bytes=int(value * PIXELS / 8), bpp=value, pixels=PIXELS, height=100, width=100
            )
            row["bits"] = row["bytes"] * 8
        else:
            row.update(kbps=value, samples=16000, sample_rate=16000, bits=int(value * 1000))
        row["metric.psnr"] = psnr
    return row


def compile_latex(folder: Path, body: str, columns: str = "twocolumn") -> str:
    """pdflatex an article holding `body`; returns the log (asserts the PDF was made)."""
    doc = folder / "doc.tex"
    doc.write_text(
        f"\\documentclass[{columns}]{{article}}\\usepackage{{booktabs}}\\usepackage{{graphicx}}"
        f"\\begin{{document}}{body}\\end{{document}}"
    )
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert (folder / "doc.pdf").stat().st_size > 1000
    return (folder / "doc.log").read_text(errors="replace")

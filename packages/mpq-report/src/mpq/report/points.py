"""Operating points: per (task, dataset, model) and codec setting, rates and scores with CIs.

Aggregation is core's (`mpq.core.summary`); this module groups settings into experiments and
curves. A curve is one codec with its fixed non-knob parameters (``jpeg:subsampling=444``);
its points are the settings that vary the rate knob, ordered by rate. A rate-targeted setting
(``jpeg:bpp=0.25``: rows with ``target_unit`` set) is an operating point of its own: its knob
value differs per item, so its mean rate and score are not a point of the knob curve, and mixing
them in makes the curve zig-zag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mpq.core.aggregate import Aggregate
from mpq.core.codec import REFERENCE
from mpq.core.errors import MpqError
from mpq.core.rate import RATE_UNITS
from mpq.core.summary import SettingSummary, summarize
from mpq.report.load import Runs


@dataclass
class Point:
    setting: str
    curve: str
    summary: SettingSummary
    target: tuple[str, float] | None = None  # (unit, value) of a rate-targeted setting

    @property
    def rate(self) -> float:
        return self.summary.mean_rate

    @property
    def is_target(self) -> bool:
        return self.target is not None


@dataclass
class Experiment:
    task: str
    dataset: str
    model: str
    scores: dict[str, dict[str, Any]]  # name -> aggregator, inputs, label, higher_is_better
    metrics: dict[str, dict[str, Any]]  # name -> higher_is_better, input_range
    rate_unit: str
    reference: SettingSummary | None
    points: list[Point] = field(default_factory=list)
    failed_only: list[str] = field(default_factory=list)  # settings with no ok row

    @property
    def title(self) -> str:
        return f"{self.task} / {self.dataset}"

    def higher_is_better(self, name: str) -> bool:
        """The direction of a score or metric as its manifest declares it (default: higher)."""
        info = self.scores.get(name) or self.metrics.get(name) or {}
        return bool(info.get("higher_is_better", True))

    def curves(self) -> dict[str, list[Point]]:
        """Knob settings per curve, by rate; rate-targeted points never join a curve."""
        curves: dict[str, list[Point]] = {}
        for point in self.points:
            if not point.is_target:
                curves.setdefault(point.curve, []).append(point)
        return {name: sorted(ps, key=lambda p: p.rate) for name, ps in curves.items()}

    def targets(self) -> list[Point]:
        """Rate-targeted operating points, by curve then target."""
        return sorted((p for p in self.points if p.is_target), key=lambda p: (p.curve, p.target))


def experiments(runs: Runs, resamples: int = 1000, seed: int = 0) -> list[Experiment]:
    """Group the merged table by (task, dataset, model) and aggregate every setting."""
    table = runs.table
    keys = sorted(
        set(
            zip(
                table.column("task").to_pylist(),
                table.column("dataset").to_pylist(),
                table.column("model").to_pylist(),
                strict=True,
            )
        )
    )
    out = []
    for task, dataset, model in keys:
        mask = pc.and_(
            pc.and_(
                pc.equal(table.column("task"), task), pc.equal(table.column("dataset"), dataset)
            ),
            pc.equal(table.column("model"), model),
        )
        manifest = _merged_manifest([m for m in runs.manifests.values() if m["task"] == task])
        out.append(_experiment(task, dataset, model, table.filter(mask), manifest, resamples, seed))
    return out


def _experiment(
    task: str,
    dataset: str,
    model: str,
    rows: pa.Table,
    manifest: dict[str, Any],
    resamples: int,
    seed: int,
) -> Experiment:
    summaries = summarize(manifest, rows, resamples=resamples, seed=seed)
    units = {s.rate_unit for s in summaries if s.rate_unit is not None}
    if len(units) > 1:
        raise MpqError(
            f"{task} / {dataset} mixes rate units {sorted(units)}; a curve needs one unit. Report"
            " these runs apart (--task, --dataset) or fix the task name of one of them."
        )
    experiment = Experiment(
        task,
        dataset,
        model,
        manifest.get("scores", {}),
        manifest.get("metrics", {}),
        units.pop() if units else "",
        None,
    )
    knobs = manifest.get("codec_knobs", {})
    targets = _targets(rows)
    for summary in summaries:
        if summary.n_ok == 0:
            experiment.failed_only.append(summary.setting)
        elif summary.setting == REFERENCE:
            experiment.reference = summary
        else:
            curve = curve_of(summary.setting, summary.codec, knobs.get(summary.codec))
            experiment.points.append(
                Point(summary.setting, curve, summary, targets.get(summary.setting))
            )
    return experiment


def _targets(rows: pa.Table) -> dict[str, tuple[str, float]]:
    """setting -> (unit, value) for every setting whose rows record a rate target."""
    if "target_unit" not in rows.column_names:
        return {}
    targeted = rows.filter(pc.is_valid(rows.column("target_unit")))
    values = [targeted.column(c).to_pylist() for c in ("setting", "target_unit", "target_value")]
    return {setting: (unit, float(value)) for setting, unit, value in zip(*values, strict=True)}


def curve_of(setting: str, codec: str, knob: str | None) -> str:
    """The setting without its rate knob or rate target: the curve the point lies on."""
    params = [p for p in setting[len(codec) + 1 :].split(":") if p]
    fixed = [p for p in params if p.split("=", 1)[0] not in (knob, *RATE_UNITS)]
    return ":".join([codec, *fixed])


DECIBEL_NAMES = ("psnr", "sdr")  # scores and metrics measured in dB (SI-SDR, SDR, PSNR)


def unit_of(name: str) -> str:
    """The unit of a score or metric by its name: dB for PSNR- and SDR-like ones, else none."""
    return "dB" if any(part in name.lower() for part in DECIBEL_NAMES) else ""


def label(curve: str) -> str:
    """Short display name: a Python-path codec shows its class name."""
    if curve.startswith("python:"):
        parts = curve.split(":")
        return ":".join([parts[2], *parts[3:]])
    return curve


def _merged_manifest(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"codecs": [], "scores": {}, "metrics": {}, "codec_knobs": {}}
    for manifest in manifests:
        merged["codecs"] += [c for c in manifest.get("codecs", []) if c not in merged["codecs"]]
        for key in ("scores", "metrics", "codec_knobs"):
            merged[key].update(manifest.get(key, {}))
    return merged


def items_scored(experiment: Experiment, name: str) -> str:
    """'n = 6 items', or 'n = 2 of 6 items' when a score covers only some (labelled) items."""
    reference = experiment.reference
    items = (
        reference.n_ok if reference else max((p.summary.n_ok for p in experiment.points), default=0)
    )
    counts = {a.n for p in experiment.points if (a := score_of(p.summary, name)) is not None}
    if reference and name in reference.scores:
        counts.add(reference.scores[name].n)
    low, high = min(counts, default=items), max(counts, default=items)
    n = str(high) if low == high else f"{low}-{high}"
    return f"n = {n} items" if low == high == items else f"n = {n} of {items} items"


def score_of(summary: SettingSummary, name: str) -> Aggregate | None:
    return summary.scores.get(name) or summary.metrics.get(name)

"""Scores at one common rate per experiment: what the paper table compares.

Codecs are compared at the same rate, never each at its own lowest setting. The rate is chosen per
experiment (``--at-rate``); by default it is a rate target the run asked of most codecs, when every
codec can be read there, else the lowest rate every codec's knob curve reaches. A codec's score at
that rate is its rate-targeted point when it has one there, its measured point when one lies on
the rate, and otherwise interpolated along its knob curve with PCHIP over log10 rate, whatever
interpolation the BD deltas use. PCHIP is monotone between measured points, so an interpolated
score stays within the scores of the two points around its rate; Akima overshoots a curve that
rises and then stays flat, and would show a codec beating its own measurements (and the
uncompressed input). The 95% interval of an interpolated score is the interpolation of its
neighbours' intervals, and its n the smaller n.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import PchipInterpolator

from mpq.core.aggregate import Aggregate
from mpq.core.errors import MpqError
from mpq.report.points import Experiment, Point, score_of

MEASURED, INTERPOLATED, TARGETED = "measured", "interpolated", "targeted"
RELATIVE_TOLERANCE = 1e-6
AGREEMENT_WORDS = ("agree", "vs_reference", "uncompressed")


@dataclass(frozen=True)
class AtRate:
    """A codec's score at the common rate, how it was obtained, and the rate it stands at."""

    score: Aggregate
    rate: float
    how: str
    setting: str = ""  # the measured or targeted setting; empty when interpolated


def is_agreement(name: str, info: dict) -> bool:
    """Scores against the model's own uncompressed prediction (1 by construction uncompressed)."""
    if "agreement" in info:
        return bool(info["agreement"])
    text = f"{name} {info.get('label', '')}".lower()
    return any(word in text for word in AGREEMENT_WORDS)


def primary_score(experiment: Experiment, wanted: str | None = None) -> str | None:
    """`wanted` if given, the manifest's declared primary score, else its first task score."""
    scores = experiment.scores
    if wanted is not None:
        if wanted not in scores:
            raise MpqError(
                f"{experiment.title} has no score {wanted!r}; its scores: {', '.join(scores)}."
            )
        return wanted
    task_scores = [name for name, info in scores.items() if not is_agreement(name, info)]
    return (task_scores or list(scores) or [None])[0]


def parse_at_rate(values: Sequence[str]) -> dict[str, float]:
    """``RATE`` (every experiment) or ``TASK[/DATASET]=RATE``, as {selector or '': rate}."""
    out = {}
    for text in values:
        key, sep, raw = text.rpartition("=")
        try:
            rate = float(raw)
        except ValueError:
            rate = float("nan")
        if not math.isfinite(rate) or rate <= 0:
            raise MpqError(f"--at-rate {text!r}: give RATE or TASK[/DATASET]=RATE with RATE > 0.")
        out[key.strip() if sep else ""] = rate
    return out


def chosen_rate(experiment: Experiment, at_rate: dict[str, float]) -> tuple[float | None, str]:
    """The common rate of an experiment and why it was chosen (or why there is none)."""
    for key in (f"{experiment.task}/{experiment.dataset}", experiment.task, ""):
        if key in at_rate:
            return at_rate[key], "given with --at-rate"
    curves = experiment.curves()
    columns = columns_of(experiment)
    if not columns:
        return None, "no compressed setting"
    ranges = {c: (ps[0].rate, ps[-1].rate) for c, ps in curves.items()}
    targets = Counter(
        p.target[1] for p in experiment.targets() if p.target[0] == experiment.rate_unit
    )
    for value, _ in targets.most_common():
        readable = all(
            _target_at(experiment, c, value) or (c in ranges and _inside(value, *ranges[c]))
            for c in columns
        )
        if readable:
            return value, "the run's rate target"
    if set(columns) - set(ranges):
        return None, "a codec has neither a knob curve nor a rate target shared by the others"
    low = max(lo for lo, _ in ranges.values())
    high = min(hi for _, hi in ranges.values())
    if low > high * (1 + RELATIVE_TOLERANCE):
        return None, "the codecs' rate ranges do not overlap"
    return low, "the lowest rate every codec reaches"


def columns_of(experiment: Experiment) -> list[str]:
    """Curves of an experiment (knob curves and rate-targeted points alike), sorted."""
    return sorted({p.curve for p in experiment.points})


def score_at(experiment: Experiment, curve: str, name: str, rate: float) -> AtRate | None:
    """`curve`'s score `name` at `rate`, or None when the curve does not reach that rate."""
    target = _target_at(experiment, curve, rate)
    if target is not None:
        score = score_of(target.summary, name)
        return None if score is None else AtRate(score, target.rate, TARGETED, target.setting)
    points = experiment.curves().get(curve, [])
    points = [p for p in points if score_of(p.summary, name) is not None]
    if not points or not _inside(rate, points[0].rate, points[-1].rate):
        return None
    for point in points:
        if math.isclose(point.rate, rate, rel_tol=RELATIVE_TOLERANCE):
            return AtRate(score_of(point.summary, name), point.rate, MEASURED, point.setting)
    return AtRate(_interpolated(points, name, rate), rate, INTERPOLATED)


def _interpolated(points: list[Point], name: str, rate: float) -> Aggregate:
    log_rates = np.log10([p.rate for p in points])
    aggregates = [score_of(p.summary, name) for p in points]
    upper = int(np.searchsorted(log_rates, math.log10(rate)))
    neighbours = aggregates[max(0, upper - 1) : upper + 1]

    def at(values: list[float]) -> float:
        values = np.asarray(values, float)
        if not np.all(np.isfinite(values)):
            return float("nan")
        return float(PchipInterpolator(log_rates, values)(math.log10(rate)))

    return Aggregate(
        at([a.value for a in aggregates]),
        at([a.ci_low for a in aggregates]),
        at([a.ci_high for a in aggregates]),
        min(a.n for a in neighbours),
    )


def _target_at(experiment: Experiment, curve: str, rate: float) -> Point | None:
    for point in experiment.targets():
        unit, value = point.target
        if (
            point.curve == curve
            and unit == experiment.rate_unit
            and math.isclose(value, rate, rel_tol=RELATIVE_TOLERANCE)
        ):
            return point
    return None


def _inside(rate: float, low: float, high: float) -> bool:
    slack = RELATIVE_TOLERANCE * max(abs(low), abs(high))
    return low - slack <= rate <= high + slack


def clear_winner(cells: list[AtRate | None], higher_is_better: bool) -> int | None:
    """Index of the best cell when its CI does not overlap the runner-up's, else None."""
    ranked = sorted(
        (i for i, c in enumerate(cells) if c is not None and math.isfinite(c.score.value)),
        key=lambda i: cells[i].score.value,
        reverse=higher_is_better,
    )
    if len(ranked) < 2:
        return None
    best, second = cells[ranked[0]].score, cells[ranked[1]].score
    bounds = (best.ci_low, best.ci_high, second.ci_low, second.ci_high)
    if not all(math.isfinite(b) for b in bounds):
        return None
    separated = best.ci_low > second.ci_high if higher_is_better else best.ci_high < second.ci_low
    return ranked[0] if separated else None

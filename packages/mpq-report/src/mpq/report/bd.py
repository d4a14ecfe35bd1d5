"""Bjontegaard deltas between two rate-score curves, through the `bjontegaard` package.

BD-rate: the average rate difference (percent) of the test curve vs the anchor at equal score,
integrated over the score range both curves cover. BD-metric: the average score difference at
equal rate over the shared log-rate range. Interpolation is Akima (default) or PCHIP, never the
cubic polynomial fit that misbehaves on real curves. A delta is NaN, with the reason, when a curve
has fewer than two points, when the curves do not overlap (or share less than `min_overlap` of
their range; by default any overlap will do, and the table says how much they share), and for
BD-rate when a curve's score does not strictly improve as rate rises (rises for a
higher-is-better score, falls for a lower-is-better one). BD-rate inverts each curve into log rate
as a function of score: a curve that is not monotone has no inverse, and one that worsens with
rate has one that says a better score costs fewer bits, so a rate saving read from it means
nothing. BD-metric integrates the score over log rate and needs only distinct rates.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import bjontegaard
import numpy as np

from mpq.report.defaults import DEFAULT_MIN_OVERLAP, METHODS


@dataclass(frozen=True)
class Delta:
    value: float
    reason: str = ""
    overlap: float = float(
        "nan"
    )  # shared fraction of the two curves' ranges on the integration axis


def bd_rate(
    anchor: tuple[list[float], list[float]],
    test: tuple[list[float], list[float]],
    method: str = "akima",
    min_overlap: float = DEFAULT_MIN_OVERLAP,
    higher_is_better: bool = True,
) -> Delta:
    """Percent rate change of `test` vs `anchor` at equal score (negative: test saves rate)."""
    return _delta(bjontegaard.bd_rate, anchor, test, method, min_overlap, 1, higher_is_better)


def bd_metric(
    anchor: tuple[list[float], list[float]],
    test: tuple[list[float], list[float]],
    method: str = "akima",
    min_overlap: float = DEFAULT_MIN_OVERLAP,
) -> Delta:
    """Average score change of `test` vs `anchor` at equal rate (log-rate axis)."""
    return _delta(bjontegaard.bd_psnr, anchor, test, method, min_overlap, axis=0)


def _delta(
    fn, anchor, test, method: str, min_overlap: float, axis: int, higher_is_better: bool = True
) -> Delta:
    problem, overlap = _check(anchor, test, axis, min_overlap, higher_is_better)
    if problem:
        warnings.warn(f"BD delta not computed: {problem}", stacklevel=3)
        return Delta(float("nan"), problem, overlap)
    return Delta(_quiet(fn, anchor, test, method, axis=axis), overlap=overlap)


def _check(
    anchor, test, axis: int, min_overlap: float, higher_is_better: bool
) -> tuple[str, float]:
    """(why no delta can be computed or '', overlap). axis 0: over log rate, 1: over score."""
    nan = float("nan")
    for name, (rates, scores) in (("anchor", anchor), ("test", test)):
        rates, scores = np.asarray(rates, float), np.asarray(scores, float)
        if len(rates) < 2:
            return f"the {name} curve has {len(rates)} point(s); at least 2 are needed", nan
        if not (np.all(np.isfinite(rates)) and np.all(np.isfinite(scores)) and np.all(rates > 0)):
            return f"the {name} curve has non-finite values or a rate <= 0", nan
        if np.any(np.diff(np.sort(rates)) <= 0):
            return f"the {name} curve has two points at the same rate", nan
        if axis == 1 and (problem := _direction(scores[np.argsort(rates)], higher_is_better)):
            return f"the {name} curve {problem}", nan
    ranges = []
    for rates, scores in (anchor, test):
        values = np.log10(rates) if axis == 0 else np.asarray(scores, float)
        ranges.append((float(np.min(values)), float(np.max(values))))
    (a_lo, a_hi), (t_lo, t_hi) = ranges
    shared = max(0.0, min(a_hi, t_hi) - max(a_lo, t_lo))
    total = max(a_hi, t_hi) - min(a_lo, t_lo)
    overlap = shared / total if total > 0 else 0.0
    if overlap <= 0 or overlap < min_overlap:
        axis_name = "log rate" if axis == 0 else "score"
        least = f" (< {min_overlap:.0%})" if min_overlap > 0 else ""
        return f"the curves share {overlap:.0%} of their {axis_name} range{least}", overlap
    return "", overlap


def _direction(scores: np.ndarray, higher_is_better: bool) -> str:
    """Why scores in rate order do not strictly improve with rate, or ''."""
    steps = np.diff(scores) if higher_is_better else -np.diff(scores)
    if np.all(steps > 0):
        return ""
    if np.all(steps < 0):
        better = "higher" if higher_is_better else "lower"
        return f"gets worse as rate rises ({better} is better)"
    return "is not strictly monotone in rate"


def _quiet(fn, anchor, test, method: str, axis: int) -> float:
    """Call the package with points in increasing order along the integration axis."""
    if method not in METHODS:
        raise ValueError(f"unknown BD interpolation {method!r}; use one of {METHODS}")
    (ra, sa), (rt, st) = anchor, test
    order_a, order_t = (
        (np.argsort(ra), np.argsort(rt)) if axis == 0 else (np.argsort(sa), np.argsort(st))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(
            fn(
                np.asarray(ra, float)[order_a],
                np.asarray(sa, float)[order_a],
                np.asarray(rt, float)[order_t],
                np.asarray(st, float)[order_t],
                method=method,
                require_matching_points=False,
                min_overlap=0,
            )
        )

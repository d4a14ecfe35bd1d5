"""How well a similarity metric tracks the task score across operating points.

Spearman and Pearson coefficients over the (metric, score) pairs of an experiment's operating
points, each with a seeded percentile bootstrap interval over points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 2000


@dataclass(frozen=True)
class Correlation:
    spearman: float
    spearman_ci: tuple[float, float]
    pearson: float
    pearson_ci: tuple[float, float]
    n: int


def correlate(x: list[float], y: list[float], seed: int = 0) -> Correlation | None:
    """None when fewer than three finite pairs exist or either side is constant."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    idx = np.random.default_rng(seed).integers(0, len(x), size=(RESAMPLES, len(x)))
    xs, ys = x[idx], y[idx]
    ranked_x, ranked_y = stats.rankdata(xs, axis=1), stats.rankdata(ys, axis=1)
    return Correlation(
        float(stats.spearmanr(x, y).statistic),
        _interval(_rowwise_pearson(ranked_x, ranked_y)),
        float(stats.pearsonr(x, y).statistic),
        _interval(_rowwise_pearson(xs, ys)),
        len(x),
    )


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair; NaN where a resample is constant on either side."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def _interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return (float("nan"), float("nan"))
    low, high = np.quantile(finite, [0.025, 0.975])
    return (float(low), float(high))

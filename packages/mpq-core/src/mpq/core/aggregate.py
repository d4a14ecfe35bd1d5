"""Aggregators from per-item sufficient statistics, each with a seeded bootstrap CI over items.

Every aggregator is written as a function of a (B, n) matrix of item indices: row b lists the n
items drawn (with replacement) for resample b. The point estimate is the same function on one row
holding every item once, so the estimate and its interval can never disagree about the formula.

- ``mean``: accuracy, agreement, a mean SDR.
- ``median``: SiSEC SDR, whose per-item statistic is already the median over frames of a track.
- ``ratio_of_sums``: corpus WER = total errors / total reference words (never a mean of WERs).
- ``one_minus_ratio_of_sums``: corpus word recognition accuracy, 1 - WER.
- ``class_mean_ratio_of_sums``: mIoU = per-class sum of intersections / sum of unions, then the
  mean over classes that occur (union > 0) in the data.

`Aggregate.n` counts the items that contributed: items with a NaN input (an unlabelled image's
correct flag) are dropped, and so are items that add nothing to either sum of a ratio (a label
map whose every pixel is ignored: all intersections and unions zero). A score over 2 labelled
photos of 18 says n = 2, and its bootstrap resamples those 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
_MAX_CHUNK_ENTRIES = 5_000_000

Arrays = Sequence[np.ndarray]
Aggregator = Callable[[np.ndarray, Arrays], np.ndarray]


@dataclass(frozen=True)
class Aggregate:
    value: float
    ci_low: float
    ci_high: float
    n: int


def _mean(idx: np.ndarray, arrays: Arrays) -> np.ndarray:
    (x,) = arrays
    return x[idx].mean(axis=1)


def _median(idx: np.ndarray, arrays: Arrays) -> np.ndarray:
    (x,) = arrays
    return np.median(x[idx], axis=1)


def _ratio_of_sums(idx: np.ndarray, arrays: Arrays) -> np.ndarray:
    num, den = arrays
    with np.errstate(divide="ignore", invalid="ignore"):
        return num[idx].sum(axis=1) / den[idx].sum(axis=1)


def _one_minus_ratio_of_sums(idx: np.ndarray, arrays: Arrays) -> np.ndarray:
    return 1.0 - _ratio_of_sums(idx, arrays)


def _class_mean_ratio_of_sums(idx: np.ndarray, arrays: Arrays) -> np.ndarray:
    num, den = arrays
    b = idx.shape[0]
    offsets = (np.arange(b) * len(num))[:, None]
    counts = np.bincount((idx + offsets).ravel(), minlength=b * len(num)).reshape(b, len(num))
    num_sums, den_sums = counts @ num, counts @ den
    present = den_sums > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(present, num_sums / den_sums, 0.0)
    return ratios.sum(axis=1) / present.sum(axis=1)


AGGREGATORS: dict[str, tuple[Aggregator, int, bool, bool]] = {
    # name: (function, number of inputs, inputs are per-class vectors, a ratio of sums)
    "mean": (_mean, 1, False, False),
    "median": (_median, 1, False, False),
    "ratio_of_sums": (_ratio_of_sums, 2, False, True),
    "one_minus_ratio_of_sums": (_one_minus_ratio_of_sums, 2, False, True),
    "class_mean_ratio_of_sums": (_class_mean_ratio_of_sums, 2, True, True),
}


def aggregate(
    name: str,
    inputs: Sequence[Sequence[float] | np.ndarray],
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Aggregate:
    """Point estimate and percentile bootstrap interval; items with a NaN input are dropped."""
    if name not in AGGREGATORS:
        raise KeyError(f"unknown aggregator {name!r}; known: {sorted(AGGREGATORS)}")
    fn, arity, per_class, ratio = AGGREGATORS[name]
    if len(inputs) != arity:
        raise ValueError(f"aggregator {name!r} takes {arity} input(s), got {len(inputs)}")
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    if len(arrays[0]) == 0:
        return Aggregate(float("nan"), float("nan"), float("nan"), 0)
    if per_class:
        arrays = [a.reshape(len(a), -1) for a in arrays]
    keep = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        keep &= ~np.isnan(a.reshape(len(a), -1)).any(axis=1)
    if ratio:  # an item with every numerator and denominator zero adds nothing to the sums
        keep &= np.any([a.reshape(len(a), -1).any(axis=1) for a in arrays], axis=0)
    arrays = [a[keep] for a in arrays]
    n = int(keep.sum())
    if n == 0:
        return Aggregate(float("nan"), float("nan"), float("nan"), 0)
    value = float(fn(np.arange(n)[None, :], arrays)[0])
    if resamples <= 0 or n < 2:
        return Aggregate(value, float("nan"), float("nan"), n)
    stats = np.concatenate([fn(idx, arrays) for idx in _resample_indices(n, resamples, seed)])
    stats = stats[np.isfinite(stats)]  # a resample of zero-denominator items gives inf or NaN
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha]) if len(stats) else (np.nan, np.nan)
    return Aggregate(value, float(low), float(high), n)


def _resample_indices(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """(B, n) item indices drawn with replacement, in chunks that bound memory."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _MAX_CHUNK_ENTRIES // n))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        yield rng.integers(0, n, size=(b, n), dtype=np.int64 if n > 2**31 - 1 else np.int32)
        done += b

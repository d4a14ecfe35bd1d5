"""Aggregators from per-item sufficient statistics, each with a seeded bootstrap CI over items.

Resample b draws n items with replacement: row b of a (B, n) matrix of item indices. Every
aggregator but the median is a function of sums over the drawn items, so a resample's sums are
one row of ``counts @ inputs``, where ``counts[b, i]`` is how often resample b drew item i: one
matrix product gives every resample's sums of every input at once. The median needs the drawn
values themselves and takes them from the index matrix. The point estimate is the same function
of the sums over every item once, so the estimate and its interval never disagree about the
formula.

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

`aggregate_many` serves many aggregates with one draw per item count: the resamples of every
aggregate over n items are the very index matrix a lone `aggregate` call with that seed draws.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
_MAX_CHUNK_ENTRIES = 5_000_000

Inputs = Sequence[Sequence[float] | np.ndarray]
Arrays = Sequence[np.ndarray]
# A sum-based aggregator: (sums of each input, (B,) or (B, classes) each; item count) -> (B,)
FromSums = Callable[[Arrays, int], np.ndarray]


@dataclass(frozen=True)
class Aggregate:
    value: float
    ci_low: float
    ci_high: float
    n: int


def _mean(sums: Arrays, n: int) -> np.ndarray:
    (total,) = sums
    return total / n


def _ratio_of_sums(sums: Arrays, n: int) -> np.ndarray:
    num, den = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def _one_minus_ratio_of_sums(sums: Arrays, n: int) -> np.ndarray:
    return 1.0 - _ratio_of_sums(sums, n)


def _class_mean_ratio_of_sums(sums: Arrays, n: int) -> np.ndarray:
    num, den = sums
    present = den > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(present, num / den, 0.0)
    return ratios.sum(axis=1) / present.sum(axis=1)


def _median(idx: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.median(x[idx], axis=1)


@dataclass(frozen=True)
class _Kind:
    from_sums: FromSums | None  # None: the median, a function of the drawn values
    arity: int
    per_class: bool  # inputs are per-class vectors
    ratio: bool  # a ratio of sums: items adding nothing to either sum are dropped


AGGREGATORS: dict[str, _Kind] = {
    "mean": _Kind(_mean, 1, False, False),
    "median": _Kind(None, 1, False, False),
    "ratio_of_sums": _Kind(_ratio_of_sums, 2, False, True),
    "one_minus_ratio_of_sums": _Kind(_one_minus_ratio_of_sums, 2, False, True),
    "class_mean_ratio_of_sums": _Kind(_class_mean_ratio_of_sums, 2, True, True),
}


@dataclass
class _Request:
    """One aggregate's kept items: `columns` holds its inputs side by side, (n, arity * width)."""

    kind: _Kind
    columns: np.ndarray
    n: int
    value: float
    stats: list[np.ndarray]

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        """The statistic of each row of (B, arity * width) input sums."""
        parts = np.split(sums, self.kind.arity, axis=1)
        if not self.kind.per_class:
            parts = [p[:, 0] for p in parts]
        return self.kind.from_sums(parts, self.n)

    @property
    def by_counts(self) -> bool:
        """Sums from counts, unless a non-finite value (0 * inf is NaN, not 0) needs the drawn
        values themselves; per-class inputs are counts of pixels, always finite."""
        if self.kind.from_sums is None:
            return False
        return self.kind.per_class or bool(np.isfinite(self.columns).all())

    def resampled(self, idx: np.ndarray) -> np.ndarray:
        """The statistic of each resample, from the drawn values themselves."""
        if self.kind.from_sums is None:
            return _median(idx, self.columns[:, 0])
        return self.from_sums(self.columns[idx].sum(axis=1))


def aggregate(
    name: str,
    inputs: Inputs,
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> Aggregate:
    """Point estimate and percentile bootstrap interval; items with a NaN input are dropped."""
    return aggregate_many([(name, inputs)], resamples, level, seed)[0]


def aggregate_many(
    requests: Sequence[tuple[str, Inputs]],
    resamples: int = DEFAULT_RESAMPLES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> list[Aggregate]:
    """`aggregate` of each (name, inputs), in order, drawing each item count's resamples once."""
    prepared = [_prepare(name, inputs) for name, inputs in requests]
    by_n: dict[int, list[_Request]] = {}
    for request in prepared:
        if isinstance(request, _Request) and resamples > 0 and request.n >= 2:
            by_n.setdefault(request.n, []).append(request)
    for n, group in by_n.items():
        _resample(n, group, resamples, seed)
    return [_interval(request, level) for request in prepared]


def _prepare(name: str, inputs: Inputs) -> _Request | Aggregate:
    if name not in AGGREGATORS:
        raise KeyError(f"unknown aggregator {name!r}; known: {sorted(AGGREGATORS)}")
    kind = AGGREGATORS[name]
    if len(inputs) != kind.arity:
        raise ValueError(f"aggregator {name!r} takes {kind.arity} input(s), got {len(inputs)}")
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    if len(arrays[0]) == 0:
        return Aggregate(float("nan"), float("nan"), float("nan"), 0)
    arrays = [a.reshape(len(a), -1) for a in arrays]
    keep = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        keep &= ~np.isnan(a).any(axis=1)
    if kind.ratio:  # an item with every numerator and denominator zero adds nothing to the sums
        keep &= np.any([a.any(axis=1) for a in arrays], axis=0)
    columns = np.concatenate([a[keep] for a in arrays], axis=1)
    n = int(keep.sum())
    if n == 0:
        return Aggregate(float("nan"), float("nan"), float("nan"), 0)
    request = _Request(kind, columns, n, float("nan"), [])
    if kind.from_sums is None:
        value = np.median(columns[:, 0])
    else:
        value = request.from_sums(np.stack([c.sum() for c in columns.T])[None, :])[0]
    request.value = float(value)
    return request


def _resample(n: int, group: list[_Request], resamples: int, seed: int) -> None:
    """Each request's statistic on every resample of its n items, from one draw for all."""
    by_counts = [r.by_counts for r in group]
    linear = [r for r, c in zip(group, by_counts, strict=True) if c]
    others = [r for r, c in zip(group, by_counts, strict=True) if not c]
    stacked = np.concatenate([r.columns for r in linear], axis=1) if linear else None
    edges = np.cumsum([0] + [r.columns.shape[1] for r in linear])
    for idx in _resample_indices(n, resamples, seed):
        if stacked is not None:
            sums = _counts(idx, n) @ stacked
            for request, lo, hi in zip(linear, edges[:-1], edges[1:], strict=True):
                request.stats.append(request.from_sums(sums[:, lo:hi]))
        for request in others:
            request.stats.append(request.resampled(idx))


def _counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(B, n) float counts: how often each resample drew each item."""
    b = idx.shape[0]
    offsets = (np.arange(b, dtype=np.int64) * n)[:, None]
    counts = np.bincount((idx + offsets).ravel(), minlength=b * n)
    return counts.reshape(b, n).astype(np.float64)


def _interval(request: _Request | Aggregate, level: float) -> Aggregate:
    if isinstance(request, Aggregate):
        return request
    if not request.stats:
        return Aggregate(request.value, float("nan"), float("nan"), request.n)
    stats = np.concatenate(request.stats)
    stats = stats[np.isfinite(stats)]  # a resample of zero-denominator items gives inf or NaN
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha]) if len(stats) else (np.nan, np.nan)
    return Aggregate(request.value, float(low), float(high), request.n)


def _resample_indices(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """(B, n) item indices drawn with replacement, in chunks that bound memory."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _MAX_CHUNK_ENTRIES // n))
    done = 0
    while done < resamples:
        b = min(chunk, resamples - done)
        yield rng.integers(0, n, size=(b, n), dtype=np.int64 if n > 2**31 - 1 else np.int32)
        done += b

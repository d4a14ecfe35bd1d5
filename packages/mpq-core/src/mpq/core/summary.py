"""Per-setting aggregates of a run: rates, task scores with bootstrap CIs, similarity means.

Only rows with status ``ok`` enter an aggregate; failed rows are counted. Both rate averages are
given: the mean of per-item rates and the pooled rate (total bits over total pixels or seconds).
A score's aggregate counts the items it is defined for (`Aggregate.n`: an item without a
reference has NaN statistics). Infinite metric values (PSNR of an exact copy) are counted apart
and kept out of the mean, which covers the finite values only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mpq.core.aggregate import Aggregate, aggregate_many
from mpq.core.codec import REFERENCE
from mpq.core.rate import EXTENT_KINDS
from mpq.core.records import METRIC_PREFIX, STAT_PREFIX, STATUS_OK


@dataclass
class SettingSummary:
    setting: str
    codec: str
    n_ok: int
    n_failed: int
    rate_unit: str | None
    mean_rate: float
    pooled_rate: float
    scores: dict[str, Aggregate] = field(default_factory=dict)
    metrics: dict[str, Aggregate] = field(default_factory=dict)
    # metric name -> how many ok rows hold an infinite value (left out of its mean)
    infinite: dict[str, int] = field(default_factory=dict)


def summarize(
    manifest: dict[str, Any], table: pa.Table, resamples: int = 1000, seed: int = 0
) -> list[SettingSummary]:
    """One summary per setting, the reference first, then in manifest order."""
    order = {s: i for i, s in enumerate(manifest.get("codecs", []))}
    table = table.sort_by("setting")
    names, starts, counts = np.unique(
        table.column("setting").to_numpy(zero_copy_only=False),
        return_index=True,
        return_counts=True,
    )
    groups = {
        name: table.slice(start, count)
        for name, start, count in zip(names, starts, counts, strict=True)
    }
    settings = sorted(groups, key=lambda s: (s != REFERENCE, order.get(s, len(order)), s))
    metric_columns = [c for c in table.column_names if c.startswith(METRIC_PREFIX)]
    out = []
    # (aggregates dict, name, aggregator, inputs): all drawn together, one draw per item count
    requests: list[tuple[dict[str, Aggregate], str, str, list[np.ndarray]]] = []
    for setting in settings:
        rows = groups[setting]
        ok = rows.filter(pc.equal(rows.column("status"), STATUS_OK))
        unit, mean_rate, pooled = _rates(ok)
        summary = SettingSummary(
            setting=setting,
            codec=rows.column("codec")[0].as_py(),
            n_ok=ok.num_rows,
            n_failed=rows.num_rows - ok.num_rows,
            rate_unit=unit,
            mean_rate=mean_rate,
            pooled_rate=pooled,
        )
        for name, score in manifest.get("scores", {}).items():
            columns = [f"{STAT_PREFIX}{stat}" for stat in score["inputs"]]
            if all(c in ok.column_names for c in columns):
                inputs = [_values(ok.column(c)) for c in columns]
                requests.append((summary.scores, name, score["aggregator"], inputs))
        if setting != REFERENCE:
            for column in metric_columns:
                name = column[len(METRIC_PREFIX) :]
                values = _values(ok.column(column))
                infinite = np.isinf(values)
                summary.infinite[name] = int(infinite.sum())
                finite = np.where(infinite, np.nan, values)
                requests.append((summary.metrics, name, "mean", [finite]))
        out.append(summary)
    aggregates = aggregate_many([(a, inputs) for _, _, a, inputs in requests], resamples, seed=seed)
    for (into, name, _, _), result in zip(requests, aggregates, strict=True):
        into[name] = result
    return out


def _rates(ok: pa.Table) -> tuple[str | None, float, float]:
    """The rate unit of the first extent kind whose rate column these rows fill."""
    bits = _values(ok.column("bits"))
    for kind in EXTENT_KINDS:
        values = _values(ok.column(kind.rate_unit))
        if len(values) and not np.isnan(values).all():
            pooled = kind.pooled_rate(bits, lambda name: _values(ok.column(name)))
            return kind.rate_unit, float(np.nanmean(values)), pooled
    return None, float("nan"), float("nan")


def _values(column: pa.ChunkedArray) -> np.ndarray:
    """A column as float64 numpy (nulls -> NaN); list columns become a 2-D array."""
    if pa.types.is_list(column.type):
        return np.array(column.to_pylist(), dtype=np.float64)
    return column.to_numpy(zero_copy_only=False).astype(np.float64)

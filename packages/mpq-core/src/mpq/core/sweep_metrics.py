"""The metric stage of a sweep: similarity of decoded items to their originals, per batch.

Each metric runs once over the whole batch. A metric that refuses the batch (an item too small
for MS-SSIM, say) is run item by item instead, and is NaN for the items it is undefined for;
that is said once per metric, and the sweep goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mpq.core.errors import MpqError
from mpq.core.metric import Metric
from mpq.core.records import METRIC_PREFIX


class MetricStage:
    def __init__(self, metrics: list[Metric], warn: Callable[[str], None]) -> None:
        self.metrics = metrics
        self.warn = warn
        self.warned: set[str] = set()

    def setup(self, device: str) -> None:
        for metric in self.metrics:
            metric.setup(device)

    def compute(self, references: list[Any], decoded: list[Any]) -> list[dict[str, float]]:
        """The `metric.<name>` columns of each (original, decoded) pair."""
        out: list[dict[str, float]] = [{} for _ in references]
        if not references:
            return out
        for metric in self.metrics:
            try:
                values = metric.compute(references, decoded)
            except (MpqError, ValueError):
                values = [
                    self._one_value(metric, r, d) for r, d in zip(references, decoded, strict=True)
                ]
            for columns, value in zip(out, values, strict=True):
                columns[f"{METRIC_PREFIX}{metric.name}"] = float(value)
        return out

    def _one_value(self, metric: Metric, reference: Any, decoded: Any) -> float:
        """A metric undefined for one item (too small, say) is NaN there, said once per metric."""
        try:
            return metric.compute([reference], [decoded])[0]
        except (MpqError, ValueError) as error:
            if metric.name not in self.warned:
                self.warned.add(metric.name)
                self.warn(f"{metric.name} left empty for some items: {error}")
            return float("nan")

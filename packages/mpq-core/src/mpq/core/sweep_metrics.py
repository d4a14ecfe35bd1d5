"""The metric stage of a sweep: similarity of decoded items to their originals, per batch.

Metrics that run beside the codec (`Metric.beside_codec`) arrive computed with the decoded item;
this stage computes what is missing (deep metrics, and any metric of an item the cache gave back
decoded) once over the whole batch, on the model's device. A batch that runs out of device
memory is split in halves, and the smaller size holds for that metric for the rest of the run. A
metric that refuses the batch (an item too small for MS-SSIM, say) is run item by item instead,
and is NaN for the items it is undefined for; that is said once per metric, and the sweep goes
on. Each row's `metric_s` is the time its metrics took: its own beside the codec, plus its share
of each batch computed here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mpq.core.device import is_out_of_memory, release_memory
from mpq.core.item_coding import pair_values
from mpq.core.metric import Metric
from mpq.core.records import METRIC_PREFIX
from mpq.core.sweep_codec import Decoded


class MetricStage:
    def __init__(self, metrics: list[Metric], warn: Callable[[str], None]) -> None:
        self.metrics = metrics
        self.warn = warn
        self.warned: set[str] = set()
        self.device = "cpu"
        self.batch_sizes: dict[str, int] = {}  # a metric's largest batch after out-of-memory
        self.seconds = 0.0  # this stage's wall time so far (not the metrics beside the codec)

    def setup(self, device: str) -> None:
        """Deep metrics go to the sweep's device; a metric that runs beside the codec, computed
        here only for an item the cache gave back decoded, stays on the CPU as in the workers,
        so that its values do not depend on where they were computed."""
        self.device = device
        for metric in self.metrics:
            metric.setup("cpu" if metric.beside_codec else device)

    def compute(self, entries: list[Decoded]) -> list[dict[str, float]]:
        """The `metric.<name>` columns and `metric_s` of each compressed entry."""
        if not self.metrics:
            return [{} for _ in entries]
        coded = [entry.coded for entry in entries]  # compressed entries: each was coded
        out = [{**done.metrics, "metric_s": done.metric_s} for done in coded]
        for done in coded:
            for name, error in done.metric_errors.items():
                self._say_undefined(name, error)
        for metric in self.metrics:
            column = f"{METRIC_PREFIX}{metric.name}"
            todo = [i for i, columns in enumerate(out) if column not in columns]
            if not todo:
                continue
            start = time.perf_counter()
            references = [entries[i].job.state.item.data for i in todo]
            values = self._values(metric, references, [entries[i].decoded for i in todo])
            seconds = time.perf_counter() - start
            self.seconds += seconds
            share = seconds / len(todo)
            for i, value in zip(todo, values, strict=True):
                out[i][column] = float(value)
                out[i]["metric_s"] += share
        return out

    def _values(self, metric: Metric, references: list[Any], decoded: list[Any]) -> list[float]:
        """`metric` over the pairs, in batches no larger than it has shown to fit."""
        values: list[float] = []
        while len(values) < len(references):
            first = len(values)
            chunk = slice(first, first + self.batch_sizes.get(metric.name, len(references)))
            values += self._batch(metric, references[chunk], decoded[chunk])
        return values

    def _batch(self, metric: Metric, references: list[Any], decoded: list[Any]) -> list[float]:
        try:
            outcomes = pair_values(metric, references, decoded)
        except Exception as error:
            if not is_out_of_memory(error) or len(references) == 1:
                raise
            release_memory(self.device)
            half = len(references) // 2
            self.batch_sizes[metric.name] = min(self.batch_sizes.get(metric.name, half), half)
            self.warn(
                f"{metric.name}: out of memory at batch size {len(references)}; continuing"
                f" with {self.batch_sizes[metric.name]}."
            )
            return self._values(metric, references, decoded)
        for _, error in outcomes:
            if error is not None:
                self._say_undefined(metric.name, error)
        return [value for value, _ in outcomes]

    def _say_undefined(self, name: str, error: str) -> None:
        """A metric undefined for some items (too small, say) is NaN there, said once."""
        if name not in self.warned:
            self.warned.add(name)
            self.warn(f"{name} left empty for some items: {error}")

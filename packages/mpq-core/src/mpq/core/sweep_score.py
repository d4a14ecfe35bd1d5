"""One model batch of a sweep scored: decoded items in, their rows out.

The references of a batch are predicted and recorded first, so the compressed items of the same
item in that batch are scored against them; a compressed item whose reference ran in an earlier
batch finds its prediction on the item's state already. Every executor scores batches this way.
"""

from __future__ import annotations

from typing import Any

from mpq.core.sweep_codec import Decoded
from mpq.core.sweep_metrics import MetricStage
from mpq.core.sweep_model import ModelStage
from mpq.core.sweep_rows import RowBuilder


def score_batch(
    batch: list[Decoded], model: ModelStage, metrics: MetricStage, rows: RowBuilder
) -> list[dict[str, Any]]:
    """The rows to write for `batch` (a reference already stored is predicted, not written)."""
    predictions = model.predict([entry.decoded for entry in batch])
    order = sorted(range(len(batch)), key=lambda i: not batch[i].job.setting.is_reference)
    for i in order:
        if batch[i].job.setting.is_reference:
            batch[i].job.state.reference_prediction = predictions.values[i]
    compressed = [i for i in order if not batch[i].job.setting.is_reference]
    values = metrics.compute([batch[i] for i in compressed])
    columns = dict(zip(compressed, values, strict=True))
    return [
        rows.ok(batch[i], predictions.values[i], predictions.seconds_per_item, columns.get(i, {}))
        for i in order
        if batch[i].job.write
    ]

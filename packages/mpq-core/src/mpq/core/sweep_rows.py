"""Rows of a sweep: identity columns, the setting, the codec's result, prediction and scores.

Extent columns come from the extent itself (`columns()`), so rows need no modality code. A
failed row carries the identity, the setting and the error, and no rate.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mpq.core.codec import CodecResult, Setting
from mpq.core.records import (
    SCHEMA_VERSION,
    STAT_PREFIX,
    STATUS_FAILED,
    STATUS_OK,
    params_json,
)
from mpq.core.sweep_codec import Decoded
from mpq.core.task import Task


def identity_columns(task: str, task_config: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """Columns every row of one run shares; `task_config` is what the task describes."""
    return {
        "schema_version": SCHEMA_VERSION,
        "task": task,
        "dataset": str(task_config.get("dataset", "")),
        "model": str(task_config.get("model", "")),
        "run_id": run_id,
    }


class RowBuilder:
    """Rows of one run; `ok` scores a prediction with the task."""

    def __init__(self, task: Task, identity: dict[str, Any]) -> None:
        self.task = task
        self.identity = identity

    def ok(
        self,
        entry: Decoded,
        prediction: Any,
        predict_s: float,
        metric_columns: dict[str, float],
    ) -> dict[str, Any]:
        """The row of a decoded item the model ran on; its reference prediction must be known."""
        state = entry.job.state
        stats = self.task.score(state.item, prediction, state.reference_prediction)
        coded = entry.coded
        cache_hit = None if coded is None else coded.cache_hit
        row = self._row(state.item.id, entry.job.setting, STATUS_OK, cache_hit)
        if coded is not None:
            row.update(codec_columns(coded.result))
        row["predict_s"] = predict_s
        stored = self.task.prediction_json(prediction)
        row["prediction"] = None if stored is None else json.dumps(stored)
        row.update({f"{STAT_PREFIX}{k}": v for k, v in stats.items()})
        row.update(metric_columns)
        return row

    def failed(self, item_id: str, setting: Setting, error: str) -> dict[str, Any]:
        row = self._row(item_id, setting, STATUS_FAILED, None)
        row["error"] = error
        return row

    def _row(
        self, item_id: str, setting: Setting, status: str, cache_hit: bool | None
    ) -> dict[str, Any]:
        target = setting.target
        return {
            **self.identity,
            "item_id": item_id,
            "setting": setting.id,
            "codec": setting.codec,
            "codec_params": None if setting.is_reference else params_json(dict(setting.values)),
            "target_unit": target.unit if target else None,
            "target_value": target.value if target else None,
            "status": status,
            "cache_hit": cache_hit,
        }


def codec_columns(result: CodecResult) -> dict[str, Any]:
    """Rate, extent, parameter values and timings of one codec result."""
    rate = result.bitstream.rate
    return {
        "codec_params": params_json(result.values),
        "bytes": rate.bytes,
        "bits": rate.bits,
        "bpp": rate.bpp,
        "kbps": rate.kbps,
        "encode_s": result.encode_s,
        "decode_s": result.decode_s,
        "probes": result.probes,
        **result.bitstream.extent.columns(),
    }

"""The model stage of a sweep: a batch of decoded items in, one prediction per item out.

The model runs under autocast when mixed precision is asked for. A batch that runs out of
device memory is split in halves (recursively, down to one item), and the smaller batch size
holds for the rest of the run: the caller reads `batch_size` before forming the next batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mpq.core.device import autocast, is_out_of_memory, release_memory
from mpq.core.errors import MpqError
from mpq.core.task import Task


@dataclass
class Predictions:
    """One prediction per input, and the model's wall time per input (the rows' `predict_s`)."""

    values: list[Any]
    seconds_per_item: float


class ModelStage:
    def __init__(self, task: Task, amp: bool, batch_size: int, warn: Callable[[str], None]) -> None:
        self.task = task
        self.amp = amp
        self.batch_size = max(1, batch_size)
        self.warn = warn
        self.device = "cpu"
        self.seconds = 0.0  # the model's wall time so far

    def setup(self, device: str) -> None:
        """Load the model onto `device` (once per run, before the first batch)."""
        self.device = device
        self.task.setup(device, self.amp)

    def predict(self, inputs: list[Any]) -> Predictions:
        start = time.perf_counter()
        values = self._predict(inputs)
        seconds = time.perf_counter() - start
        self.seconds += seconds
        return Predictions(values, seconds / len(inputs))

    def _predict(self, inputs: list[Any]) -> list[Any]:
        """Run the model, halving the batch size for the rest of the run on out-of-memory."""
        try:
            with autocast(self.device, self.amp):
                predictions = self.task.predict(inputs)
        except Exception as error:
            if not is_out_of_memory(error) or len(inputs) == 1:
                raise
            release_memory(self.device)
            half = len(inputs) // 2
            self.batch_size = min(self.batch_size, half)
            self.warn(
                f"Out of memory at batch size {len(inputs)}; continuing with {self.batch_size}."
            )
            return self._predict(inputs[:half]) + self._predict(inputs[half:])
        if len(predictions) != len(inputs):
            raise MpqError(
                f"task {self.task.name!r} returned {len(predictions)} predictions for a batch of"
                f" {len(inputs)}."
            )
        return list(predictions)

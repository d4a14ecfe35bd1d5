"""The task interface: items with references, a batched model, per-item sufficient statistics.

A task never aggregates. It returns per-item statistics (a correct flag, error and word counts,
per-class intersections and unions, a per-track median SDR) and declares, as data, which core
aggregator turns them into each reported score. That keeps the report free of modality code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from mpq.core.params import Param, find

Stat = float | int | Sequence[float]


@dataclass
class Item:
    """One dataset item. `error` is set instead of `data` when the item could not be loaded."""

    id: str
    data: Any = None
    target: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Score:
    """How a reported score is aggregated from per-item statistics (names of `stat.*` columns).

    `agreement` marks a score computed against the model's output on the uncompressed item, not
    against a reference (label, transcript): it is defined for every item, and it is not the
    task's headline score.
    """

    aggregator: str
    inputs: tuple[str, ...]
    label: str
    higher_is_better: bool = True
    agreement: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "aggregator": self.aggregator,
            "inputs": list(self.inputs),
            "label": self.label,
            "higher_is_better": self.higher_is_better,
            "agreement": self.agreement,
        }


class Task(ABC):
    """Base class of every task: `setup` loads the model once, `predict` runs one batch.

    Every task takes ``model``, ``dataset``, ``split`` and ``trust_remote_code``; anything else it
    takes is declared in `parameters` (typed, validated, listed by ``--help`` and
    ``mpq plugins``) and given as ``--option NAME=VALUE``. `parse_options` turns those values
    (text or Python) into checked, typed ones with the declared defaults filled in.
    """

    name: ClassVar[str]
    modality: ClassVar[str]
    scores: ClassVar[dict[str, Score]]
    parameters: ClassVar[tuple[Param, ...]] = ()
    # Distributions whose versions change this task's numbers (recorded in each run's manifest).
    libraries: ClassVar[tuple[str, ...]] = ()
    # False for a task whose `predict` ignores its inputs (`compress`): decoded items then stay
    # in the codec workers unless a metric or the saving of decoded items needs them.
    reads_decoded: ClassVar[bool] = True

    @classmethod
    def parse_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Declared defaults, overridden by `options` (None or "" leaves the default)."""
        values = {param.name: param.default for param in cls.parameters}
        for name, raw in options.items():
            param = find(cls.parameters, name, f"task {cls.name!r}")
            if raw is not None and raw != "":
                values[name] = param.parse(raw, f"task {cls.name!r}")
        return values

    def describe(self) -> dict[str, Any]:
        """Model id, dataset, split and anything else the manifest should record."""
        return {}

    def count(self) -> int | None:
        """How many items `items` yields, for progress (None when unknown)."""
        return None

    def setup(self, device: str, amp: bool) -> None:
        """Load the model onto `device`; called once per run before the first batch."""

    @abstractmethod
    def items(self) -> Iterator[Item]: ...

    @abstractmethod
    def predict(self, batch: list[Any]) -> list[Any]: ...

    @abstractmethod
    def score(self, item: Item, prediction: Any, reference_prediction: Any) -> dict[str, Stat]:
        """Per-item statistics; `reference_prediction` is the model's output on the original."""

    def prediction_json(self, prediction: Any) -> Any:
        """What of a prediction is stored in the row (JSON-serialisable), or None."""
        return prediction

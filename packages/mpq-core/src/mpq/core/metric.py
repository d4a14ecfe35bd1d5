"""The full-reference similarity metric interface (decoded item vs original).

Each metric documents the input range its underlying implementation expects and converts the
engine's items (uint8 images, float audio) to it itself, so a caller cannot feed the wrong range.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

# A metric's values are stored in the column metric.<name> of the result schema (records).
METRIC_PREFIX = "metric."


class Metric(ABC):
    name: ClassVar[str]
    modality: ClassVar[str]
    higher_is_better: ClassVar[bool]
    input_range: ClassVar[str]
    description: ClassVar[str] = ""
    # Distributions whose versions change this metric's values (recorded in each run's manifest).
    libraries: ClassVar[tuple[str, ...]] = ()
    # A cheap CPU metric that needs no weights: computed in the codec worker next to the decode,
    # so the decoded item need not travel back for it. Deep metrics run batched on the device.
    beside_codec: ClassVar[bool] = False
    # Where the metric computes: "cpu" until setup() is given the run's device.
    device: str = "cpu"

    def setup(self, device: str) -> None:
        """Load weights onto `device`; called once per run. An override calls this first."""
        self.device = device

    @abstractmethod
    def compute(self, references: list[Any], decoded: list[Any]) -> list[float]:
        """One value per pair, computed as a batch where the implementation allows."""

import math

import numpy as np

from mpq.core.errors import MpqError
from mpq.core.sweep_metrics import MetricStage
from mpq.core.testing import MeanAbsoluteError


class SizedMetric(MeanAbsoluteError):
    """Needs items of at least 3 x 3 pixels, as MS-SSIM needs a minimum size."""

    name = "sized"

    def compute(self, references, decoded):
        if min(min(r.shape[:2]) for r in references) < 3:
            raise MpqError("an item is smaller than 3 x 3")
        return super().compute(references, decoded)


def test_each_metric_gives_one_column_per_pair():
    references = [np.full((2, 2, 3), 10, np.uint8), np.full((2, 2, 3), 20, np.uint8)]
    decoded = [np.full((2, 2, 3), 13, np.uint8), np.full((2, 2, 3), 20, np.uint8)]
    stage = MetricStage([MeanAbsoluteError()], warn=print)
    assert stage.compute(references, decoded) == [{"metric.mae": 3.0}, {"metric.mae": 0.0}]
    assert stage.compute([], []) == []


def test_a_metric_undefined_for_one_item_is_nan_there_and_said_once():
    large, small = np.full((4, 4, 3), 50, np.uint8), np.full((2, 4, 3), 200, np.uint8)
    warnings = []
    stage = MetricStage([SizedMetric(), MeanAbsoluteError()], warn=warnings.append)
    for _ in range(2):
        columns = stage.compute([large, small], [large + 2, small])
        assert columns[0] == {"metric.sized": 2.0, "metric.mae": 2.0}
        assert math.isnan(columns[1]["metric.sized"]) and columns[1]["metric.mae"] == 0.0
    assert warnings == ["sized left empty for some items: an item is smaller than 3 x 3"]

import math

import numpy as np
import pytest

from mpq.core.codec import Setting
from mpq.core.errors import MpqError
from mpq.core.item_coding import Coded
from mpq.core.sweep_codec import Decoded
from mpq.core.sweep_items import ItemState, SweepJob
from mpq.core.sweep_metrics import MetricStage
from mpq.core.task import Item
from mpq.core.testing import BesideMeanAbsoluteError, MeanAbsoluteError


class SizedMetric(MeanAbsoluteError):
    """Needs items of at least 3 x 3 pixels, as MS-SSIM needs a minimum size."""

    name = "sized"

    def compute(self, references, decoded):
        if min(min(r.shape[:2]) for r in references) < 3:
            raise MpqError("an item is smaller than 3 x 3")
        return super().compute(references, decoded)


class SmallMemoryMetric(MeanAbsoluteError):
    """Runs out of device memory on batches above `fits` pairs; records the batches it ran."""

    name = "small-memory"

    def __init__(self, fits):
        self.fits, self.batches = fits, []

    def compute(self, references, decoded):
        if len(references) > self.fits:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.batches.append(len(references))
        return super().compute(references, decoded)


def entries(references, decoded, **known):
    """Decoded entries of (original, decoded) pairs; `known` as the codec stage fills it."""
    return [
        Decoded(SweepJob(ItemState(Item(f"i{n}", r), None), Setting("x")), d, Coded(None, **known))
        for n, (r, d) in enumerate(zip(references, decoded, strict=True))
    ]


def without_seconds(columns):
    return [{k: v for k, v in c.items() if k != "metric_s"} for c in columns]


def test_each_metric_gives_one_column_per_pair():
    references = [np.full((2, 2, 3), 10, np.uint8), np.full((2, 2, 3), 20, np.uint8)]
    decoded = [np.full((2, 2, 3), 13, np.uint8), np.full((2, 2, 3), 20, np.uint8)]
    stage = MetricStage([MeanAbsoluteError()], warn=print)
    columns = stage.compute(entries(references, decoded))
    assert without_seconds(columns) == [{"metric.mae": 3.0}, {"metric.mae": 0.0}]
    assert all(c["metric_s"] >= 0 for c in columns)
    assert stage.compute([]) == []
    assert MetricStage([], warn=print).compute(entries(references, decoded)) == [{}, {}]


def test_a_metric_undefined_for_one_item_is_nan_there_and_said_once():
    large, small = np.full((4, 4, 3), 50, np.uint8), np.full((2, 4, 3), 200, np.uint8)
    warnings = []
    stage = MetricStage([SizedMetric(), MeanAbsoluteError()], warn=warnings.append)
    for _ in range(2):
        columns = without_seconds(stage.compute(entries([large, small], [large + 2, small])))
        assert columns[0] == {"metric.sized": 2.0, "metric.mae": 2.0}
        assert math.isnan(columns[1]["metric.sized"]) and columns[1]["metric.mae"] == 0.0
    assert warnings == ["sized left empty for some items: an item is smaller than 3 x 3"]


def test_values_computed_beside_the_codec_are_kept_and_their_errors_said_once():
    image = np.full((4, 4, 3), 50, np.uint8)
    warnings = []
    stage = MetricStage([SizedMetric(), MeanAbsoluteError()], warn=warnings.append)
    known = {
        "metrics": {"metric.sized": float("nan")},
        "metric_errors": {"sized": "too small"},
        "metric_s": 0.25,
    }
    for _ in range(2):
        [columns] = stage.compute(entries([image], [image + 1], **known))
        assert math.isnan(columns["metric.sized"]) and columns["metric.mae"] == 1.0
        assert columns["metric_s"] >= 0.25
    assert warnings == ["sized left empty for some items: too small"]


def test_out_of_memory_halves_a_metrics_batches_for_the_rest_of_the_run():
    images = [np.full((2, 2, 3), v, np.uint8) for v in range(8)]
    metric, warnings = SmallMemoryMetric(fits=3), []
    stage = MetricStage([metric], warn=warnings.append)
    columns = stage.compute(entries(images, [i + 1 for i in images]))
    assert [c["metric.small-memory"] for c in columns] == [1.0] * 8
    assert metric.batches == [2, 2, 2, 2]
    stage.compute(entries(images[:5], images[:5]))
    assert metric.batches[4:] == [2, 2, 1]
    assert warnings == [
        "small-memory: out of memory at batch size 8; continuing with 4.",
        "small-memory: out of memory at batch size 4; continuing with 2.",
    ]


def test_other_errors_are_not_taken_for_out_of_memory():
    image = np.zeros((2, 2, 3), np.uint8)

    class Broken(MeanAbsoluteError):
        def compute(self, references, decoded):
            raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        MetricStage([Broken()], warn=print).compute(entries([image] * 2, [image] * 2))


def test_a_metric_beside_the_codec_is_set_up_on_the_cpu_as_in_the_workers():
    """It is computed here only for cache hits; on the sweep's device its values could differ
    from those the workers compute on the CPU."""
    deep, beside = MeanAbsoluteError(), BesideMeanAbsoluteError()
    MetricStage([deep, beside], warn=print).setup("cuda:1")
    assert (deep.device, beside.device) == ("cuda:1", "cpu")

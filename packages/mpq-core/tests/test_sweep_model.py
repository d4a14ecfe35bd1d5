import pytest

from mpq.core.errors import MpqError
from mpq.core.sweep_model import ModelStage
from mpq.core.testing import SyntheticTask

OOM = "CUDA out of memory. Tried to allocate 2.00 GiB"


class SmallMemoryTask(SyntheticTask):
    """Runs out of memory on batches above `fits` items, and records the batches it ran."""

    def __init__(self, fits, error=OOM, **kw):
        super().__init__(**kw)
        self.fits, self.error, self.batches = fits, error, []

    def predict(self, batch):
        if len(batch) > self.fits:
            raise RuntimeError(self.error)
        self.batches.append(len(batch))
        return super().predict(batch)


def images(n):
    return [item.data for item in SyntheticTask(items=n).items()]


def test_out_of_memory_halves_the_batch_and_keeps_the_smaller_size():
    task, warnings = SmallMemoryTask(fits=2), []
    stage = ModelStage(task, amp=False, batch_size=8, warn=warnings.append)
    stage.setup("cpu")
    inputs = images(8)
    predictions = stage.predict(inputs)
    assert predictions.values == SyntheticTask().predict(inputs)
    assert task.batches == [2, 2, 2, 2]
    assert stage.batch_size == 2
    assert warnings == [
        "Out of memory at batch size 8; continuing with 4.",
        "Out of memory at batch size 4; continuing with 2.",
        "Out of memory at batch size 4; continuing with 2.",
    ]
    assert predictions.seconds_per_item >= 0


def test_out_of_memory_on_one_item_and_other_errors_are_raised():
    one = ModelStage(SmallMemoryTask(fits=0), amp=False, batch_size=4, warn=print)
    with pytest.raises(RuntimeError, match="out of memory"):
        one.predict(images(1))
    other = ModelStage(SmallMemoryTask(fits=0, error="bad input"), False, 4, print)
    with pytest.raises(RuntimeError, match="bad input"):
        other.predict(images(3))
    assert other.batch_size == 4


class ShortTask(SyntheticTask):
    def predict(self, batch):
        return super().predict(batch)[:-1]


def test_a_task_returning_too_few_predictions_is_refused():
    with pytest.raises(MpqError, match="returned 2 predictions for a batch of 3"):
        ModelStage(ShortTask(), amp=False, batch_size=3, warn=print).predict(images(3))

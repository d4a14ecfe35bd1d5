import pytest

from mpq.core.codec import REFERENCE_SETTING, Setting
from mpq.core.errors import MpqError
from mpq.core.sweep_items import Failed, ItemSource
from mpq.core.task import Item
from mpq.core.testing import SyntheticTask

LOW, HIGH = Setting("syn", (("quality", 5),)), Setting("syn", (("quality", 60),))
SETTINGS = [REFERENCE_SETTING, LOW, HIGH]


def source(task, done=(), limit=None, hash_content=False):
    skipped, warnings = [], []
    items = ItemSource(task, SETTINGS, set(done), limit, hash_content, skipped.append,
                       warnings.append)  # fmt: skip
    return items, skipped, warnings


def test_each_item_gives_its_reference_then_its_settings_minus_stored_keys():
    done = {("img00000", "none"), ("img00000", LOW.id), ("img00001", "none")}
    items, skipped, _ = source(SyntheticTask(items=3), done, limit=2)
    jobs = [(j.state.item.id, j.setting.id, j.write) for j in items.jobs()]
    assert jobs == [
        ("img00000", "none", False),
        ("img00000", HIGH.id, True),
        ("img00001", "none", False),
        ("img00001", LOW.id, True),
        ("img00001", HIGH.id, True),
    ]
    assert skipped == [2, 1]


def test_a_fully_stored_item_gives_no_job_and_content_is_hashed_for_the_cache():
    done = {("img00000", s.id) for s in SETTINGS}
    items, skipped, _ = source(SyntheticTask(items=2), done, hash_content=True)
    jobs = list(items.jobs())
    assert {j.state.item.id for j in jobs} == {"img00001"}
    assert skipped == [3, 0]
    assert len(jobs[0].state.content_hash) > 16


def test_an_unloadable_item_gives_failed_jobs():
    items, _, _ = source(SyntheticTask(items=2, broken="1"))
    failed = [j for j in items.jobs() if isinstance(j, Failed)]
    assert [(f.job.state.item.id, f.job.setting.id) for f in failed] == [
        ("img00001", s.id) for s in SETTINGS
    ]
    assert all("cannot identify image" in f.error for f in failed)


class TwiceTask(SyntheticTask):
    def items(self):
        for item in super().items():
            yield Item("same", item.data, item.target)


def test_duplicate_item_ids_are_refused():
    items, _, _ = source(TwiceTask(items=2))
    with pytest.raises(MpqError, match="'same' twice"):
        list(items.jobs())


class UnlabelledTask(SyntheticTask):
    def items(self):
        for item in super().items():
            yield Item(item.id, item.data)


def test_items_without_reference_are_said_once_then_counted():
    items, _, warnings = source(UnlabelledTask(items=3))
    list(items.jobs())
    assert len(warnings) == 1 and "Item 'img00000' has no reference" in warnings[0]
    assert items.report_without_reference() == 3
    assert warnings[1].startswith("3 items of this sweep had no reference")


def test_the_missing_reference_note_names_only_scores_that_need_one():
    items, _, warnings = source(UnlabelledTask(items=2))
    list(items.jobs())
    assert "(accuracy)" in warnings[0] and "agreement" not in warnings[0]

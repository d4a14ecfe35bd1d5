"""The sweep's work list: every item under every setting, minus the keys already stored.

Each item is run uncompressed first (the reference job, setting ``none``), so its prediction is
there to score the item's compressed versions against; a resumed sweep runs the reference again
without writing it when only compressed rows are missing. An item that could not be loaded
becomes failed jobs, not an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import groupby, islice
from typing import Any

from mpq.core.codec import REFERENCE_SETTING, Setting
from mpq.core.errors import MpqError
from mpq.core.files import UnreadFile
from mpq.core.hashing import content_hash
from mpq.core.task import Item, Task


@dataclass
class ItemState:
    """An item in flight; kept alive only by the jobs that still need it."""

    item: Item
    content_hash: str | None
    reference_prediction: Any = None


@dataclass
class SweepJob:
    """One item under one setting; `write` is False for a reference already stored."""

    state: ItemState
    setting: Setting
    write: bool = True
    attempts: int = 0


@dataclass
class Failed:
    """A job that produced no decoded item, and why."""

    job: SweepJob
    error: str


class ItemSource:
    """Jobs of `task` x `settings` (reference first) not in `done`, the first `limit` items
    (from item `start` on: one executor's share of them).

    `hash_content` computes each item's content hash (the bitstream cache key); `on_skipped`
    hears how many rows each item has stored already; `warn` says things once.
    """

    def __init__(
        self,
        task: Task,
        settings: list[Setting],
        done: set[tuple[str, str]],
        limit: int | None,
        hash_content: bool,
        on_skipped: Callable[[int], None],
        warn: Callable[[str], None],
        start: int = 0,
    ) -> None:
        self.task = task
        self.settings = settings
        self.done = done
        self.limit = limit
        self.hash_content = hash_content
        self.on_skipped = on_skipped
        self.warn = warn
        self.start = start
        self.without_reference = 0

    def jobs(self) -> Iterator[SweepJob | Failed]:
        """Jobs to run, and failed jobs of items that could not be loaded."""
        seen: set[str] = set()
        for item in islice(self.task.items(), self.start, self.limit):
            if item.id in seen:
                raise MpqError(
                    f"the dataset yields item id {item.id!r} twice; item ids must be unique."
                )
            seen.add(item.id)
            if item.target is None and item.error is None:
                self._note_missing_reference(item)
            todo = [s for s in self.settings if (item.id, s.id) not in self.done]
            self.on_skipped(len(self.settings) - len(todo))
            if not todo:
                continue
            if item.error is not None:
                for setting in todo:
                    yield Failed(SweepJob(ItemState(item, None), setting), item.error)
                continue
            # An unread file is hashed where it is read (item_coding).
            hashed = self.hash_content and not isinstance(item.data, UnreadFile)
            state = ItemState(item, content_hash(item.data) if hashed else None)
            yield SweepJob(state, REFERENCE_SETTING, write=REFERENCE_SETTING in todo)
            for setting in todo:
                if not setting.is_reference:
                    yield SweepJob(state, setting)

    def _note_missing_reference(self, item: Item) -> None:
        """Scores that compare with a reference are undefined for such items: say so at once."""
        self.without_reference += 1
        needing = [name for name, score in self.task.scores.items() if not score.agreement]
        if self.without_reference == 1 and needing:
            count = self.task.count()
            of = "" if count is None else f" (of {count} items)"
            self.warn(
                f"Item {item.id!r} has no reference (label, transcript){of}: the scores"
                f" that compare with one ({', '.join(needing)}) are undefined for such"
                " items. The sweep's summary counts them."
            )

    def report_without_reference(self) -> int:
        """How many items had no reference, said when there were any."""
        return report_without_reference(self.without_reference, self.warn)


def by_item(jobs: Iterator[SweepJob | Failed]) -> Iterator[list[SweepJob | Failed]]:
    """The jobs of each item together (`ItemSource` yields them one item after another)."""
    for _, group in groupby(jobs, key=item_id):
        yield list(group)


def item_id(job: SweepJob | Failed) -> str:
    return (job.job if isinstance(job, Failed) else job).state.item.id


def report_without_reference(count: int, warn: Callable[[str], None]) -> int:
    """Say how many items of a sweep had no reference, when there were any; returns `count`."""
    if count:
        warn(
            f"{count} items of this sweep had no reference; scores"
            " that need one are undefined for them (mpq show says so)."
        )
    return count

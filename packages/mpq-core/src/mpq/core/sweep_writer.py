"""The store writer of a sweep: rows gathered and written as one part per `PART_ROWS` rows or
`PART_SECONDS` seconds, whichever comes first.

A part is written atomically (and synced) when the rows kept since the last part reach
`PART_ROWS`, or when a row arrives `PART_SECONDS` or more after the last part; the sweep writes
the rest with `flush` when it ends or is interrupted. So a killed sweep loses at most the rows
kept since the last part (at most `PART_ROWS` rows, or `PART_SECONDS` seconds of work), Ctrl-C
or a clean end loses none, and a run of a few thousand rows writes a few parts, not one per
model batch. The writer counts rows written, failed and skipped (already stored) and reports
each row to a progress callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from mpq.core.records import STATUS_FAILED

PART_ROWS = 2048
PART_SECONDS = 10.0


class RowWriter:
    def __init__(
        self,
        write: Callable[[list[Mapping[str, Any]]], Any],
        advance: Callable[[int], None],
        part_rows: int | None = None,
        part_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.advance = advance
        self.part_rows = PART_ROWS if part_rows is None else part_rows
        self.part_seconds = PART_SECONDS if part_seconds is None else part_seconds
        self.clock = clock
        self.last_part = clock()
        self.rows: list[Mapping[str, Any]] = []
        self.written = 0
        self.failed = 0
        self.skipped = 0

    def add(self, row: Mapping[str, Any]) -> None:
        """Keep a row; write the kept rows as a part once there are enough or they are old."""
        self.rows.append(row)
        if row["status"] == STATUS_FAILED:
            self.failed += 1
        else:
            self.written += 1
        self.advance(1)
        if len(self.rows) >= self.part_rows or self.clock() - self.last_part >= self.part_seconds:
            self.flush()

    def skip(self, n: int) -> None:
        """`n` rows are stored already."""
        self.skipped += n
        if n:
            self.advance(n)

    def flush(self) -> None:
        """Write the rows kept since the last flush."""
        rows, self.rows = self.rows, []
        self.last_part = self.clock()
        self.write(rows)

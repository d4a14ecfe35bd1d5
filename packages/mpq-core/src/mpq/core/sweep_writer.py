"""The store writer of a sweep: rows gathered per batch and written as one part.

Rows are written once per completed batch (each `flush`), so an interrupted or killed sweep loses
at most the batch in flight. The writer counts rows written, failed and skipped (already stored)
and reports each row to a progress callback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mpq.core.records import STATUS_FAILED


class RowWriter:
    def __init__(
        self,
        write: Callable[[list[Mapping[str, Any]]], Any],
        advance: Callable[[int], None],
    ) -> None:
        self.write = write
        self.advance = advance
        self.rows: list[Mapping[str, Any]] = []
        self.written = 0
        self.failed = 0
        self.skipped = 0

    def add(self, row: Mapping[str, Any]) -> None:
        """Keep a row for the next `flush`."""
        self.rows.append(row)
        if row["status"] == STATUS_FAILED:
            self.failed += 1
        else:
            self.written += 1
        self.advance(1)

    def skip(self, n: int) -> None:
        """`n` rows are stored already."""
        self.skipped += n
        if n:
            self.advance(n)

    def flush(self) -> None:
        """Write the rows kept since the last flush."""
        rows, self.rows = self.rows, []
        self.write(rows)

"""Notes of a report, grouped by cause: one line per cause with a count, not one per case.

A report over many curves can have dozens of BD deltas left out for the same reason; a reader
needs the reason once and the list of cases it applies to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# The cause behind a BD reason from `mpq.report.bd`, by the reason's wording.
BD_CAUSES = (
    ("point(s)", "a curve has fewer than 2 points"),
    ("not strictly monotone", "a curve's score is not strictly monotone in rate"),
    ("gets worse", "a curve's score gets worse as rate rises, and BD-rate needs one that improves"),
    ("same rate", "a curve has two points at the same rate"),
    ("non-finite", "a curve has non-finite values or a rate <= 0"),
    ("share", "the curves do not overlap enough (--min-overlap)"),
)


class Notes:
    """Ordered causes, each with the cases (may be none) it applies to."""

    def __init__(self, lines: list[str] | None = None) -> None:
        self.groups: dict[str, list[str]] = {}
        for line in lines or []:
            self.add(line)

    def add(self, cause: str, case: str = "") -> None:
        """`cause` may place its cases with '{cases}'; else they follow it with their count."""
        cases = self.groups.setdefault(cause, [])
        if case and case not in cases:
            cases.append(case)

    def add_bd(self, experiment: str, reason: str, case: str) -> None:
        cause = next((c for key, c in BD_CAUSES if key in reason), reason)
        cause = f"{experiment}: BD delta not computed, {cause}"
        overlap = re.search(r"share (\d+%)", reason)
        self.add(cause, f"{case} ({overlap.group(1)} shared)" if overlap else case)

    def lines(self) -> list[str]:
        out = []
        for cause, cases in self.groups.items():
            joined = "; ".join(cases)
            if "{cases}" in cause:
                out.append(cause.format(cases=joined))
            elif not cases:
                out.append(cause)
            else:
                count = f"{len(cases)} case{'s' * (len(cases) > 1)}"
                out.append(f"{cause} ({count}): {joined}.")
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self.lines())

    def __bool__(self) -> bool:
        return bool(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

"""Progress of a sweep, as rows done: a rich bar on stderr, or nothing.

The engine calls `advance(rows)` inside a `with` block, and `stages(seconds)` with the time each
stage has held the sweep up so far, so that the bar names the slowest one (where to look, or what
to give more workers or a GPU); `SweepProgress` is the do-nothing base.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Task as ProgressTask
from rich.text import Text


class SweepProgress:
    """Progress that shows nothing; subclasses show it by overriding the three hooks."""

    def __enter__(self) -> SweepProgress:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def advance(self, rows: int) -> None:
        return None

    def stages(self, seconds: dict[str, float]) -> None:
        return None


class ProgressBar(SweepProgress):
    """A bar of rows done out of `total` (None: unknown), with speed, elapsed time and ETA."""

    def __init__(self, name: str, total: int | None, console: Console) -> None:
        self.progress = Progress(
            TextColumn(f"[bold]{name}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            _SpeedColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[slowest]}"),
            console=console,
        )
        self.bar = self.progress.add_task("sweep", total=total, slowest="")

    def start(self) -> None:
        self.progress.start()

    def stop(self) -> None:
        self.progress.stop()

    def advance(self, rows: int) -> None:
        self.progress.advance(self.bar, rows)

    def stages(self, seconds: dict[str, float]) -> None:
        self.progress.update(self.bar, slowest=slowest_stage(seconds))


def slowest_stage(seconds: dict[str, float]) -> str:
    """'slowest: NAME (P%)' of the stages' seconds, or nothing before any has taken time."""
    total = sum(seconds.values())
    if total <= 0:
        return ""
    name = max(seconds, key=seconds.__getitem__)
    return f"slowest: {name} ({100 * seconds[name] / total:.0f}%)"


class _SpeedColumn(ProgressColumn):
    """Average rows per second since the start: steadier than rich's recent-window speed."""

    def render(self, task: ProgressTask) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed or not task.completed:
            return Text("- rows/s")
        return Text(f"{task.completed / elapsed:.2f} rows/s")

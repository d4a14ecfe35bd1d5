"""The `mpq-report` command: a whole report, or one table, one set of plots, one BD table."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mpq.core.cli import friendly_errors
from mpq.core.paths import DEFAULT_CACHE_DIR
from mpq.report.defaults import DEFAULT_COUNT, DEFAULT_MIN_OVERLAP, METHODS

if TYPE_CHECKING:
    from mpq.report import build as builder
    from mpq.report.tables import Table

# The command line loads in a few times the interpreter's start-up: the report's modules (numpy,
# pyarrow, matplotlib, the BD interpolation) are imported by the commands that run.

RUN_DIRS = click.argument(
    "run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="RUN_DIR..."
)
FORMAT = click.option(
    "--format",
    "form",
    type=click.Choice(["markdown", "latex"]),
    default="markdown",
    show_default=True,
    help="markdown to read in a terminal; latex (booktabs) for a paper.",
)


def report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Filters and settings shared by every subcommand."""
    options = [
        click.option("--task", "tasks", multiple=True, help="Keep only this task; repeatable."),
        click.option("--dataset", "datasets", multiple=True,
                     help="Keep only this dataset; repeatable."),
        click.option("--codec", "codecs", multiple=True, help="Keep only this codec; repeatable."),
        click.option("--metric", "metrics", multiple=True,
                     help="Only this similarity metric (repeatable; default all)."),
        click.option("--point", "points", multiple=True, metavar="SPEC",
                     help="Show this measured setting of a codec in the paper table instead of"
                     " its score at the common rate, written as for --codec of a run"
                     " ('jpeg:quality=5', 'mp3:bitrate=16k'); repeatable."),
        click.option("--score", default=None, metavar="NAME",
                     help="Score of the paper table (default: each task's primary score, its"
                     " first score that is not an agreement with the uncompressed prediction)."),
        click.option("--at-rate", "at_rate", multiple=True, metavar="[TASK[/DATASET]=]RATE",
                     help="Common rate of the paper table, in the experiment's unit (bpp or"
                     " kbps), for every experiment or one; repeatable (default: the run's rate"
                     " target when every codec is readable there, else the lowest rate every"
                     " codec reaches)."),
        click.option("--anchor", default=None,
                     help="Curve the BD deltas are measured against (default: the first codec"
                     " of each run)."),
        click.option("--method", type=click.Choice(METHODS), default="akima", show_default=True,
                     help="Interpolation of BD-rate and BD-metric, and nothing else: the paper"
                     " table interpolates with PCHIP, which stays between measured points."),
        click.option("--min-overlap", type=click.FloatRange(0, 1), default=DEFAULT_MIN_OVERLAP,
                     show_default=True,
                     help="Smallest shared fraction of two curves' ranges for a BD delta."),
        click.option("--log-rate", is_flag=True, help="Logarithmic rate axis in plots."),
        click.option("--resamples", type=click.IntRange(min=0), default=1000, show_default=True,
                     help="Bootstrap resamples for confidence intervals."),
        click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed."),
    ]  # fmt: skip
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def example_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Which items the grid of decoded examples shows, and where their bitstreams are cached."""
    options = [
        click.option("--examples", "examples", multiple=True, metavar="ITEM_ID",
                     help="Item to show decoded at each codec's operating point; repeatable"
                     " (default: the items whose prediction flips at the highest rate)."),
        click.option("--example-count", type=click.IntRange(min=0), default=DEFAULT_COUNT,
                     show_default=True, help="Items in the grid by default; 0: no grid."),
        click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=DEFAULT_CACHE_DIR, show_default=True,
                     help="The runs' bitstream cache (as given to their --cache-dir); items"
                     " missing from it are encoded again."),
    ]  # fmt: skip
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def _options(kwargs: dict[str, Any]) -> builder.ReportOptions:
    from mpq.report import build as builder

    return builder.ReportOptions(**kwargs)


def _show_warnings(command: Callable[..., Any]) -> Callable[..., Any]:
    """Python warnings (an incomplete run, a BD delta left out) as one line each on stderr."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = command(*args, **kwargs)
        for warning in caught:
            click.echo(f"warning: {warning.message}", err=True)
        return result

    return wrapper


@click.group()
@click.version_option(package_name="mpq-report", prog_name="mpq-report")
def main() -> None:
    """Turn mpq run directories into rate-performance plots, LaTeX tables and BD-rates."""


@main.command()
@RUN_DIRS
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Report folder: figures/, tables/, summary.md, paper.tex, report.html.",
)
@report_options
@example_options
@friendly_errors
@_show_warnings
def build(run_dirs: tuple[Path, ...], out: Path, **kwargs: Any) -> None:
    """Everything: report.html, paper.tex, figures (PDF+PNG), LaTeX tables and summary.md."""
    from mpq.report import build as builder

    summary = builder.build(run_dirs, out, _options(kwargs))
    click.echo(
        f"Report written: {summary} (figures in {out / 'figures'}, tables in {out / 'tables'})"
    )


@main.command()
@RUN_DIRS
@click.option(
    "--kind",
    type=click.Choice(["paper", "points"]),
    default="paper",
    show_default=True,
    help="paper: each codec's score at a common rate; points: every operating point.",
)
@FORMAT
@report_options
@friendly_errors
@_show_warnings
def table(run_dirs: tuple[Path, ...], kind: str, form: str, **kwargs: Any) -> None:
    """Print one table."""
    from mpq.report import build as builder
    from mpq.report.tables import points_table

    report = builder.prepare(run_dirs, _options(kwargs))
    data = report.paper() if kind == "paper" else points_table(report.experiments)
    _print(data, form, wide=kind == "points")
    _print_notes(report)


@main.command()
@RUN_DIRS
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the figures.",
)
@report_options
@example_options
@friendly_errors
@_show_warnings
def plot(run_dirs: tuple[Path, ...], out: Path, **kwargs: Any) -> None:
    """Write the figures only."""
    from mpq.report import build as builder

    report = builder.prepare(run_dirs, _options(kwargs))
    paths = builder.figures(report, out) + builder.example_grids(report, out)
    click.echo(f"{len(paths)} files written to {out}")


@main.command()
@RUN_DIRS
@FORMAT
@report_options
@friendly_errors
@_show_warnings
def bd(run_dirs: tuple[Path, ...], form: str, **kwargs: Any) -> None:
    """Print BD-rate and BD-metric of every codec vs the anchor."""
    from mpq.report import build as builder
    from mpq.report.tables import bd_table

    report = builder.prepare(run_dirs, _options(kwargs))
    data = bd_table(builder.bd_rows(report), report.options.method)
    _print(data, form, wide=True)
    _print_notes(report)


def _print(data: Table, form: str, wide: bool) -> None:
    from mpq.report.tables import to_latex, to_markdown

    click.echo(to_latex(data, wide=wide) if form == "latex" else to_markdown(data))


def _print_notes(report: builder.Report) -> None:
    sys.stdout.flush()
    for note in report.notes:
        click.echo(f"note: {note}", err=True)

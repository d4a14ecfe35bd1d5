"""Figures: task score vs rate, similarity vs rate, task score vs similarity.

Sized for one column of a two-column paper (3.5 in), 8 pt text, the Okabe-Ito colourblind-safe
palette plus distinct markers (so curves survive greyscale printing), and one colour per curve
across every figure of a report. Figures are built without pyplot, so no global state or display
is involved; each is saved as PDF and PNG. matplotlib is imported when the first figure is
drawn, so tables and BD deltas are computed without it.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mpq.core.aggregate import Aggregate
from mpq.report.points import Experiment, Point, items_scored, label, score_of, unit_of

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
RATE_LABELS = {"bpp": "rate (bpp)", "kbps": "rate (kbps)"}
TARGET_MARKER = "*"  # rate-targeted operating points: the curve's colour, this marker, no line
TARGET_SIZE = 9
STYLE = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "pdf.fonttype": 42,
}
SIZE = (3.5, 2.6)  # without the legend, which adds LEGEND_ROW_INCHES per row below the axes
LEGEND_COLUMNS = 2
LEGEND_ROW_INCHES = 0.16
LABEL_WIDTH = 34  # characters per line of an axis label; longer labels wrap


class Palette:
    """Colour and marker of each curve, fixed for a whole report."""

    def __init__(self, curves: list[str]) -> None:
        ordered = sorted(set(curves))
        self.styles = {
            curve: (OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)])
            for i, curve in enumerate(ordered)
        }

    def __getitem__(self, curve: str) -> tuple[str, str]:
        return self.styles[curve]


def _figure() -> tuple[Figure, object]:
    """Call inside `rc_context(STYLE)`: rc values are read when artists are made."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=SIZE, layout="constrained")
    ax = fig.subplots()
    ax.grid(True, alpha=0.3, linewidth=0.5)
    return fig, ax


def _values(aggs: list[Aggregate | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nan = float("nan")
    value = np.array([a.value if a else nan for a in aggs])
    low = np.array([a.ci_low if a else nan for a in aggs])
    high = np.array([a.ci_high if a else nan for a in aggs])
    return value, low, high


def versus_rate(
    experiment: Experiment, name: str, palette: Palette, log_rate: bool = False
) -> Figure:
    """A score or a similarity metric vs rate, one line per curve with its 95% CI band."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig, ax = _figure()
        for curve, points in experiment.curves().items():
            color, marker = palette[curve]
            rates = np.array([p.rate for p in points])
            value, low, high = _values([score_of(p.summary, name) for p in points])
            ax.plot(rates, value, marker=marker, color=color, label=label(curve))
            ax.fill_between(rates, low, high, color=color, alpha=0.18, linewidth=0)
        for point in experiment.targets():
            color, _ = palette[point.curve]
            value, low, high = _values([score_of(point.summary, name)])
            ax.errorbar(
                [point.rate], value, yerr=np.vstack([value - low, high - value]),
                fmt=TARGET_MARKER, markersize=TARGET_SIZE, color=color, elinewidth=0.6,
                capsize=1.5, label=target_label(point),
            )  # fmt: skip
        reference = experiment.reference and experiment.reference.scores.get(name)
        if reference:
            ax.axhline(
                reference.value, color="0.35", linestyle="--", linewidth=1, label="uncompressed"
            )
            if np.isfinite(reference.ci_low):
                ax.axhspan(
                    reference.ci_low, reference.ci_high, color="0.35", alpha=0.08, linewidth=0
                )
        if log_rate:
            _log_axis(ax)
        ax.set_xlabel(RATE_LABELS.get(experiment.rate_unit, f"rate ({experiment.rate_unit})"))
        ax.set_ylabel(_axis_label(experiment, name))
        _finish(fig, ax, experiment, name)
    return fig


def score_vs_metric(experiment: Experiment, score: str, metric: str, palette: Palette) -> Figure:
    """Each operating point as (similarity, task score): does the metric track the task?"""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        fig, ax = _figure()
        groups = [(c, points, palette[c][1]) for c, points in experiment.curves().items()]
        groups += [(p.curve, [p], TARGET_MARKER) for p in experiment.targets()]
        for curve, points, marker in groups:
            x, _, _ = _values([p.summary.metrics.get(metric) for p in points])
            y, low, high = _values([p.summary.scores.get(score) for p in points])
            ax.errorbar(
                x, y, yerr=np.vstack([y - low, high - y]), fmt=marker, color=palette[curve][0],
                label=target_label(points[0]) if points[0].is_target else label(curve),
                markersize=TARGET_SIZE if points[0].is_target else None,
                elinewidth=0.6, capsize=1.5,
            )  # fmt: skip
        ax.set_xlabel(_axis_label(experiment, metric))
        ax.set_ylabel(_axis_label(experiment, score))
        _finish(fig, ax, experiment, score)
    return fig


def _finish(fig: Figure, ax, experiment: Experiment, name: str) -> None:
    """Title with the number of items scored; the legend under the axes, clear of the data."""
    ax.set_title(f"{experiment.title}\n{items_scored(experiment, name)}")
    handles, labels = ax.get_legend_handles_labels()
    rows = -(-len(labels) // LEGEND_COLUMNS)
    fig.set_figheight(SIZE[1] + LEGEND_ROW_INCHES * rows)
    fig.legend(handles, labels, loc="outside lower center", ncol=LEGEND_COLUMNS, frameon=False)


def _log_axis(ax) -> None:
    """Log rate axis labelled with plain numbers at 1, 2 and 5 of each decade."""
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(
        FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
    )


def target_label(point: Point) -> str:
    unit, value = point.target
    return f"{label(point.curve)} @ {value:g} {unit} target"


def _axis_label(experiment: Experiment, name: str) -> str:
    if name in experiment.scores:
        text = experiment.scores[name].get("label", name)
    else:
        text = name.upper() if len(name) <= 7 else name  # psnr, ms-ssim; not stlpips-alex
    unit = unit_of(name)
    arrow = "higher is better" if experiment.higher_is_better(name) else "lower is better"
    return textwrap.fill(f"{text}{f' ({unit})' if unit else ''}, {arrow}", LABEL_WIDTH)


def save(fig: Figure, folder: Path, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{slug(stem)}.{ext}" for ext in ("pdf", "png")]
    for path in paths:
        fig.savefig(path, dpi=200)
    return paths


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")

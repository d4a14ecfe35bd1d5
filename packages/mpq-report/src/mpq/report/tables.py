"""Tables as data, rendered to LaTeX (booktabs) or Markdown.

- `paper_table`: the seed paper's layout. Rows are experiments (task / dataset), columns the
  uncompressed baseline and each codec at its operating point; a cell is "score (rate)", the best
  compressed score of a row in bold.
- `points_table`: every operating point with n, rates (mean of items and pooled), each score with
  its 95% CI and each similarity mean.
- `bd_table`, `correlation_table`: BD deltas vs an anchor curve; metric-score correlations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mpq.core.aggregate import Aggregate
from mpq.report.bd import Delta
from mpq.report.correlation import Correlation
from mpq.report.points import Experiment, Point, best_index, label

LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


@dataclass
class Cell:
    text: str
    bold: bool = False


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    caption: str = ""
    label: str = ""
    align: str = ""


def escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in text)


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "--"
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"


def fmt_ci(aggregate: Aggregate | None, digits: int = 3) -> str:
    if aggregate is None:
        return "--"
    if not math.isfinite(aggregate.ci_low):
        return fmt(aggregate.value, digits)
    low, high = fmt(aggregate.ci_low, digits), fmt(aggregate.ci_high, digits)
    return f"{fmt(aggregate.value, digits)} [{low}, {high}]"


def operating_points(experiment: Experiment, chosen: list[str]) -> dict[str, Point]:
    """Each curve's chosen setting, else its lowest-rate point (the study's very-low-rate end)."""
    out = {}
    for curve, points in experiment.curves().items():
        picked = [p for p in points if p.setting in chosen]
        out[curve] = picked[0] if picked else points[0]
    return out


def paper_table(experiments: list[Experiment], chosen: list[str] = ()) -> Table:
    curves = sorted({p.curve for e in experiments for p in e.points})
    table = Table(
        ["Task / dataset", "Score", "Uncompressed", *[label(c) for c in curves]],
        caption="Task score (rate) of each codec at its operating point"
        + ("" if chosen else " (its lowest-rate setting)")
        + "; best compressed score per row in bold.",
        label="tab:mpq-paper",
        align="ll" + "r" * (len(curves) + 1),
    )
    for experiment in experiments:
        if not experiment.scores:
            continue
        name, info = next(iter(experiment.scores.items()))
        points = operating_points(experiment, list(chosen))
        values = [
            points[c].summary.scores[name].value
            if c in points and name in points[c].summary.scores
            else None
            for c in curves
        ]
        best = best_index(values, info.get("higher_is_better", True))
        reference = experiment.reference.scores.get(name) if experiment.reference else None
        row = [
            Cell(f"{experiment.title} [{experiment.rate_unit}]"),
            Cell(info.get("label", name)),
            Cell(fmt(reference.value if reference else None)),
        ]
        for i, curve in enumerate(curves):
            if values[i] is None:
                row.append(Cell("--"))
            else:
                rate = fmt(points[curve].rate)
                row.append(Cell(f"{fmt(values[i])} ({rate})", bold=i == best))
        table.rows.append(row)
    return table


def points_table(experiments: list[Experiment]) -> Table:
    scores = list(dict.fromkeys(s for e in experiments for s in e.scores))
    metrics = sorted({m for e in experiments for p in e.points for m in p.summary.metrics})
    table = Table(
        ["Task / dataset", "Setting", "n", "Failed", "Rate", "Pooled", *scores, *metrics],
        caption="Every operating point: rate as the mean over items and pooled (total bits over"
        " total pixels or seconds); scores with 95% bootstrap intervals; similarity means.",
        label="tab:mpq-points",
        align="ll" + "r" * (4 + len(scores) + len(metrics)),
    )
    for experiment in experiments:
        summaries = [experiment.reference] if experiment.reference else []
        summaries += [p.summary for p in sorted(experiment.points, key=lambda p: (p.curve, p.rate))]
        for s in summaries:
            row = [
                Cell(f"{experiment.title} [{experiment.rate_unit}]"),
                Cell(label(s.setting)),
                Cell(str(s.n_ok)),
                Cell(str(s.n_failed)),
                Cell(fmt(s.mean_rate)),
                Cell(fmt(s.pooled_rate)),
            ]
            row += [Cell(fmt_ci(s.scores.get(name))) for name in scores]
            row += [Cell(fmt_ci(s.metrics.get(name))) for name in metrics]
            table.rows.append(row)
    return table


def bd_table(rows: list[tuple[str, str, str, str, Delta, Delta]], method: str) -> Table:
    """rows: (experiment, measure, anchor, test, BD-rate, BD-metric)."""
    table = Table(
        ["Task / dataset", "Measure", "Anchor", "Test", "BD-rate (%)", "BD-metric"],
        caption=f"Bjontegaard deltas ({method} interpolation) of each codec vs the anchor;"
        " negative BD-rate: fewer bits for the same score. -- : not computable (see summary).",
        label="tab:mpq-bd",
        align="llllrr",
    )
    for title, measure, anchor, test, rate, metric in rows:
        table.rows.append(
            [Cell(title), Cell(measure), Cell(label(anchor)), Cell(label(test)),
             Cell(fmt(rate.value, 2)), Cell(fmt(metric.value, 4))]
        )  # fmt: skip
    return table


def correlation_table(rows: list[tuple[str, str, str, Correlation]]) -> Table:
    """rows: (experiment, score, metric, correlation)."""
    table = Table(
        ["Task / dataset", "Score", "Metric", "n", "Spearman", "Pearson"],
        caption="Correlation of each similarity metric with the task score across operating"
        " points, with 95% bootstrap intervals over points.",
        label="tab:mpq-correlation",
        align="lllrrr",
    )
    for title, score, metric, c in rows:
        spearman = f"{fmt(c.spearman, 2)} [{fmt(c.spearman_ci[0], 2)}, {fmt(c.spearman_ci[1], 2)}]"
        pearson = f"{fmt(c.pearson, 2)} [{fmt(c.pearson_ci[0], 2)}, {fmt(c.pearson_ci[1], 2)}]"
        table.rows.append(
            [Cell(title), Cell(score), Cell(metric), Cell(str(c.n)), Cell(spearman), Cell(pearson)]
        )
    return table


def to_latex(table: Table, long: bool = False) -> str:
    """booktabs tabular in a table float, or a longtable (needs \\usepackage{longtable})."""
    head = " & ".join(escape(c) for c in table.columns) + r" \\"
    body = [
        " & ".join(rf"\textbf{{{escape(c.text)}}}" if c.bold else escape(c.text) for c in row)
        + r" \\"
        for row in table.rows
    ]
    caption = escape(table.caption)
    if long:
        return "\n".join(
            [
                rf"\begin{{longtable}}{{{table.align}}}",
                rf"\caption{{{caption}}}\label{{{table.label}}} \\",
                r"\toprule", head, r"\midrule", r"\endfirsthead",
                r"\toprule", head, r"\midrule", r"\endhead",
                *body,
                r"\bottomrule",
                r"\end{longtable}",
                "",
            ]
        )  # fmt: skip
    return "\n".join(
        [
            r"\begin{table}[t]",
            r"\centering",
            r"\small",
            rf"\begin{{tabular}}{{{table.align}}}",
            r"\toprule",
            head,
            r"\midrule",
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            rf"\caption{{{caption}}}",
            rf"\label{{{table.label}}}",
            r"\end{table}",
            "",
        ]
    )


def to_markdown(table: Table) -> str:
    def cell(c: Cell) -> str:
        text = c.text.replace("|", "\\|")
        return f"**{text}**" if c.bold else text

    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "---|" * len(table.columns),
        *("| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows),
    ]
    return "\n".join([*lines, "", f"*{table.caption}*", ""])

"""Tables as data, rendered to LaTeX (booktabs) or Markdown.

- `paper_table`: rows experiments, columns codecs; each cell the task's primary score at one
  common rate per experiment (`mpq.report.matched`), the rate below it, n items, bold only where
  the best score's CI clears the runner-up's.
- `points_table`: every operating point with n, rates (mean of items and pooled), each score with
  its 95% CI and each similarity mean.
- `bd_table`, `correlation_table`: BD deltas vs an anchor curve; metric-score correlations.

LaTeX output must fit the text width of one- and two-column articles: tables are compact
(two-line cells instead of wide ones, short labels, small type) and a table still wider than the
line is scaled down to it (measured in a box, so narrow tables keep their type size). Long tables
are split into floats of at most `ROWS_PER_FLOAT` rows instead of longtable, which two-column
documents cannot hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mpq.core.aggregate import Aggregate
from mpq.report.bd import Delta
from mpq.report.correlation import Correlation
from mpq.report.matched import (
    INTERPOLATED,
    MEASURED,
    TARGETED,
    AtRate,
    chosen_rate,
    clear_winner,
    columns_of,
    primary_score,
    score_at,
)
from mpq.report.points import Experiment, items_scored, label, score_of, unit_of

if TYPE_CHECKING:
    from mpq.core.summary import SettingSummary

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
    "\u2020": r"\dag{}",
    "\u2021": r"\ddag{}",
}
ROWS_PER_FLOAT = 40
RATE_DIGITS = {"bpp": 3, "kbps": 1}
# \mpqfit{...}: its argument as is when it fits the line, else scaled to the line width.
FIT = (
    r"\ifdefined\mpqbox\else\newsavebox{\mpqbox}\fi"
    r"\providecommand{\mpqfit}[1]{\sbox{\mpqbox}{#1}\ifdim\wd\mpqbox>\linewidth"
    r"\resizebox{\linewidth}{!}{\usebox{\mpqbox}}\else\usebox{\mpqbox}\fi}"
)
PACKAGES = r"% Needs \usepackage{booktabs} and \usepackage{graphicx}."


@dataclass
class Cell:
    text: str
    bold: bool = False
    mark: str = ""  # "dagger" or "ddagger": how a matched-rate score was obtained
    small: bool = False  # a secondary line (the rate under a score)
    span: bool = False  # the only cell of its row, across every column (a group title)


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


def fmt_rate(value: float | None, unit: str) -> str:
    """bpp to 3 decimals (0.125), kbps to 1 (16.0): the precision each unit is read at."""
    return fmt(value, RATE_DIGITS.get(unit, 3))


def fmt_ci(aggregate: Aggregate | None, digits: int = 3) -> str:
    if aggregate is None:
        return "--"
    if not math.isfinite(aggregate.ci_low):
        return fmt(aggregate.value, digits)
    low, high = fmt(aggregate.ci_low, digits), fmt(aggregate.ci_high, digits)
    return f"{fmt(aggregate.value, digits)} [{low}, {high}]"


def paper_table(
    experiments: list[Experiment],
    chosen: Sequence[str] = (),
    score: str | None = None,
    at_rate: dict[str, float] | None = None,
) -> Table:
    """Rows experiments, columns codecs: each codec's task score at one common rate.

    Three rows per experiment, so that the table fits one column of a two-column paper: a title
    row (task / dataset: score, n), the scores, and the rate each one stands at. `chosen`
    settings (``--point``) replace a codec's matched-rate score by that measured point.
    """
    columns = sorted({c for e in experiments for c in columns_of(e)})
    table = Table(
        ["", "Original", *column_labels(columns)],
        label="tab:mpq-paper",
        align="lr" + "r" * len(columns),
    )
    marks = set()
    for experiment in experiments:
        name = primary_score(experiment, score)
        if name is None:
            continue
        info = experiment.scores[name]
        rate, _ = chosen_rate(experiment, at_rate or {})
        cells = [_paper_cell(experiment, c, name, rate, chosen) for c in columns]
        winner = clear_winner(cells, experiment.higher_is_better(name))
        reference = experiment.reference.scores.get(name) if experiment.reference else None
        scored_label = short_label(info.get("label", name))
        title = f"{experiment.title}: {scored_label}, {items_scored(experiment, name)}"
        scored = [Cell("score"), Cell(fmt(reference.value if reference else None))]
        rates = [Cell(f"rate ({experiment.rate_unit})", small=True), Cell("")]
        for i, cell in enumerate(cells):
            if cell is None:
                scored.append(Cell("--"))
                rates.append(Cell(""))
                continue
            marks.add(cell.how)
            scored.append(
                Cell(fmt(cell.score.value), bold=i == winner, mark=MARKS.get(cell.how, ""))
            )
            rates.append(Cell(fmt_rate(cell.rate, experiment.rate_unit), small=True))
        table.rows += [[Cell(title, span=True)], scored, rates]
    table.caption = _paper_caption(experiments, at_rate or {}, bool(chosen), marks)
    return table


def column_labels(curves: list[str]) -> list[str]:
    """A curve's codec name when it is the codec's only curve, else the whole curve label."""
    codecs = [label(c).split(":")[0] for c in curves]
    return [
        codec if codecs.count(codec) == 1 else label(curve)
        for codec, curve in zip(codecs, curves, strict=True)
    ]


MARKS = {INTERPOLATED: "dagger", TARGETED: "ddagger"}
MARK_TEXT = {"dagger": "\u2020", "ddagger": "\u2021"}


def _paper_cell(
    experiment: Experiment,
    curve: str,
    name: str,
    rate: float | None,
    chosen: Sequence[str],
) -> AtRate | None:
    for point in experiment.points:
        if point.curve == curve and point.setting in chosen:
            aggregate = score_of(point.summary, name)
            return None if aggregate is None else AtRate(aggregate, point.rate, MEASURED)
    return None if rate is None else score_at(experiment, curve, name, rate)


def _paper_caption(
    experiments: list[Experiment],
    at_rate: dict[str, float],
    chosen: bool,
    marks: set[str],
) -> str:
    rates = []
    for e in experiments:
        rate, why = chosen_rate(e, at_rate)
        if rate is not None:
            rates.append(f"{e.task}: {fmt_rate(rate, e.rate_unit)} {e.rate_unit}, {why}")
    text = (
        "Task score of each codec at a common rate per experiment"
        + (f" ({'; '.join(rates)})" if rates else "")
        + ("; --point settings as measured" if chosen else "")
        + ", with the rate each score stands at below it; Original: the uncompressed input;"
        " n: items scored."
    )
    if INTERPOLATED in marks:
        text += (
            " \u2020 interpolated along the codec's quality curve (PCHIP over log rate, which"
            " stays between the two measured points around the rate; its interval interpolated"
            " from its neighbours')."
        )
    if TARGETED in marks:
        text += " \u2021 the codec's rate-targeted setting."
    return text + " Bold: best, its 95% CI clear of the runner-up's."


def short_label(text: str) -> str:
    """A score label without its explanation: 'SDR, median over ...' -> 'SDR'."""
    return text.split(" (")[0].split(",")[0]


def points_table(experiments: list[Experiment]) -> Table:
    scores = list(dict.fromkeys(s for e in experiments for s in e.scores))
    metrics = sorted({m for e in experiments for p in e.points for m in p.summary.metrics})
    table = Table(
        ["Setting", "n", "Failed", "Rate", "Pooled", *scores, *map(with_unit, metrics)],
        caption="Every operating point: rate as the mean over items and pooled (total bits over"
        " total pixels or seconds); scores with 95% bootstrap intervals (n=: items scored, where"
        " fewer than the n items, e.g. only labelled ones); similarity means (n=: items with a"
        " value, where fewer; inf n=: items with an infinite value, e.g. PSNR of an unchanged"
        " item, counted apart). \u2021: a rate-targeted setting.",
        label="tab:mpq-points",
        align="l" + "r" * (4 + len(scores) + len(metrics)),
    )
    for experiment in experiments:
        table.rows.append([Cell(f"{experiment.title} [{experiment.rate_unit}]", span=True)])
        points = sorted(experiment.points, key=lambda p: (p.curve, p.is_target, p.rate))
        rows = [(experiment.reference, False)] if experiment.reference else []
        rows += [(p.summary, p.is_target) for p in points]
        for s, targeted in rows:
            row = [
                Cell(label(s.setting), mark="ddagger" if targeted else ""),
                Cell(str(s.n_ok)),
                Cell(str(s.n_failed)),
                Cell(fmt_rate(s.mean_rate, experiment.rate_unit)),
                Cell(fmt_rate(s.pooled_rate, experiment.rate_unit)),
            ]
            for name in scores:
                aggregate = s.scores.get(name)
                text = fmt_ci(aggregate)
                if aggregate is not None and aggregate.n != s.n_ok:
                    text += f" n={aggregate.n}"
                row.append(Cell(text))
            row += [Cell(_metric_text(s, name)) for name in metrics]
            table.rows.append(row)
    return table


def _metric_text(summary: SettingSummary, name: str) -> str:
    """A similarity mean, with over how many items it runs where it leaves some out: infinite
    values (PSNR of an unchanged item) are counted apart, undefined ones (NaN) are not in it."""
    aggregate = summary.metrics.get(name)
    infinite = summary.infinite.get(name, 0)
    text = fmt(None if aggregate is None or aggregate.n == 0 else aggregate.value)
    if aggregate is not None and aggregate.n + infinite < summary.n_ok:
        text += f" n={aggregate.n}"
    return f"{text}; inf n={infinite}" if infinite else text


def bd_table(rows: list[tuple[str, str, str, str, Delta, Delta]], method: str) -> Table:
    """rows: (experiment, measure, anchor, test, BD-rate, BD-metric)."""
    table = Table(
        ["Task / dataset", "Measure", "Anchor", "Test", "BD-rate (%)", "shared", "BD-metric",
         "shared"],
        caption=f"Bjontegaard deltas ({method.capitalize()} interpolation) of each codec's quality"
        " curve vs the anchor's; negative BD-rate: fewer bits for the same score. shared: the"
        " fraction of the two curves' score (BD-rate) or log-rate (BD-metric) range both cover,"
        " over which the delta is averaged. --: not computable (the notes say why).",
        label="tab:mpq-bd",
        align="llllrrrr",
    )  # fmt: skip
    for title, measure, anchor, test, rate, metric in rows:
        table.rows.append(
            [Cell(title), Cell(with_unit(measure)), Cell(label(anchor)),
             Cell(label(test)), Cell(fmt(rate.value, 2)), Cell(_percent(rate.overlap)),
             Cell(fmt(metric.value, 4)), Cell(_percent(metric.overlap))]
        )  # fmt: skip
    return table


def with_unit(name: str) -> str:
    unit = unit_of(name)
    return f"{name} ({unit})" if unit else name


def _percent(fraction: float) -> str:
    return "--" if not math.isfinite(fraction) else f"{fraction:.0%}"


def correlation_table(rows: list[tuple[str, str, str, Correlation]]) -> Table:
    """rows: (experiment, score, metric, correlation)."""
    table = Table(
        ["Score", "Metric", "n", "Spearman", "Pearson"],
        caption="Correlation of each similarity metric with the task score across operating"
        " points (n: points), with 95% bootstrap intervals over points.",
        label="tab:mpq-correlation",
        align="llrrr",
    )
    previous = None
    for title, score, metric, c in rows:
        if title != previous:
            table.rows.append([Cell(title, span=True)])
            previous = title
        spearman = f"{fmt(c.spearman, 2)} [{fmt(c.spearman_ci[0], 2)}, {fmt(c.spearman_ci[1], 2)}]"
        pearson = f"{fmt(c.pearson, 2)} [{fmt(c.pearson_ci[0], 2)}, {fmt(c.pearson_ci[1], 2)}]"
        table.rows.append(
            [Cell(score), Cell(with_unit(metric)), Cell(str(c.n)), Cell(spearman), Cell(pearson)]
        )
    return table


def to_latex(table: Table, wide: bool = False) -> str:
    """booktabs tabulars in floats of at most ROWS_PER_FLOAT rows, each fitted to the line.

    wide: a `table*` float (the full text width of a two-column document; a plain float in a
    one-column one), for tables with many columns.
    """
    float_name = "table*" if wide else "table"
    head = " & ".join(rf"\textbf{{{escape(c)}}}" for c in table.columns) + r" \\"
    chunks = [
        table.rows[i : i + ROWS_PER_FLOAT] for i in range(0, len(table.rows), ROWS_PER_FLOAT)
    ] or [[]]
    out = [PACKAGES, FIT]
    for number, rows in enumerate(chunks):
        caption = escape(table.caption)
        if number:
            caption = f"{escape(table.caption.split(';')[0].split('.')[0])} (continued)."
        out += [
            rf"\begin{{{float_name}}}[tbp]",
            r"\centering",
            r"\footnotesize",
            r"\setlength{\tabcolsep}{3pt}",
            rf"\mpqfit{{\begin{{tabular}}{{{table.align}}}",
            r"\toprule",
            head,
            r"\midrule",
            *(_latex_row(row, len(table.columns)) for row in rows),
            r"\bottomrule",
            r"\end{tabular}}",
            rf"\caption{{{caption}}}",
            *([rf"\label{{{table.label}}}"] if not number else []),
            rf"\end{{{float_name}}}",
        ]
    return "\n".join([*out, ""])


def _latex_row(row: list[Cell], width: int) -> str:
    if row and row[0].span:
        return rf"\multicolumn{{{width}}}{{@{{}}l}}{{\textit{{{escape(row[0].text)}}}}} \\"
    return " & ".join(_latex_cell(c) for c in row) + r" \\"


def _latex_cell(cell: Cell) -> str:
    text = escape(cell.text)
    if cell.mark:
        text += rf"$^\{cell.mark}$"
    if cell.bold:
        text = rf"\textbf{{{text}}}"
    if cell.small:
        text = rf"{{\scriptsize {text}}}"
    return text


def _padded(row: list[Cell], table: Table) -> list[Cell]:
    """A spanning title row as its first cell, in italics, and empty cells after it."""
    if row and row[0].span:
        return [Cell(f"*{row[0].text}*"), *[Cell("")] * (len(table.columns) - 1)]
    return row


def to_markdown(table: Table) -> str:
    def cell(c: Cell) -> str:
        text = c.text.replace("|", "\\|") + MARK_TEXT.get(c.mark, "")
        return f"**{text}**" if c.bold else text

    lines = [
        "| " + " | ".join(table.columns) + " |",
        "|" + "---|" * len(table.columns),
        *("| " + " | ".join(cell(c) for c in _padded(row, table)) + " |" for row in table.rows),
    ]
    return "\n".join([*lines, "", f"*{table.caption}*", ""])

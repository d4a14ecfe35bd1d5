"""One LaTeX file to `\\input` from a paper: the key figures and the tables of a report.

Set ``\\newcommand{\\mpqreport}{path/to/report}`` before ``\\input{path/to/report/paper.tex}``
when the report folder is not the paper's folder; the preamble needs booktabs and graphicx.
Plots are one column wide (`\\linewidth`, as drawn: 3.5 in); the grid of decoded examples spans
both columns of a two-column paper (`figure*`). Either fits a one-column paper too.
"""

from __future__ import annotations

from dataclasses import dataclass

from mpq.report.tables import escape


@dataclass(frozen=True)
class Figure:
    path: str  # of the PDF relative to the report folder, without its extension
    caption: str
    label: str
    wide: bool = False  # across both columns of a two-column paper (figure*)


def include_file(figures: list[Figure], tables: list[str]) -> str:
    """figures, then `\\input` of each table file (paths relative to the report folder)."""
    lines = [
        "% mpq report: \\input this file from a paper. Needs \\usepackage{booktabs} and"
        " \\usepackage{graphicx};",
        "% define \\mpqreport as the path of the report folder when it is not the paper's.",
        r"\providecommand{\mpqreport}{.}",
    ]
    for figure in figures:
        environment = "figure*" if figure.wide else "figure"
        lines += [
            rf"\begin{{{environment}}}[tbp]",
            r"\centering",
            rf"\includegraphics[width=\linewidth]{{\mpqreport/{figure.path}.pdf}}",
            rf"\caption{{{escape(figure.caption)}}}",
            rf"\label{{{figure.label}}}",
            rf"\end{{{environment}}}",
        ]
    lines += [rf"\input{{\mpqreport/{table}}}" for table in tables]
    return "\n".join([*lines, ""])

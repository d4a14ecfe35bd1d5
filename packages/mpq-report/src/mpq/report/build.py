"""A whole report: figures, LaTeX tables and a Markdown summary from run directories."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.compute as pc

from mpq.core.errors import MpqError
from mpq.core.paths import DEFAULT_CACHE_DIR
from mpq.report.bd import DEFAULT_MIN_OVERLAP, Delta, bd_metric, bd_rate
from mpq.report.correlation import Correlation, correlate
from mpq.report.curves import Palette, save, score_vs_metric, slug, versus_rate
from mpq.report.examples import CROP, DEFAULT_COUNT, collect
from mpq.report.examples import figure as example_figure
from mpq.report.include import Figure, include_file
from mpq.report.load import Runs, check_present, filter_table, load_runs, matching_settings
from mpq.report.matched import parse_at_rate, primary_score
from mpq.report.notes import Notes
from mpq.report.page import browser_section, html_table, image, page
from mpq.report.points import Experiment, experiments, label, score_of
from mpq.report.tables import (
    Table,
    bd_table,
    correlation_table,
    paper_table,
    points_table,
    to_latex,
    to_markdown,
)

WIDE = ("points", "bd")  # tables set across both columns of a two-column paper
PAPER_TABLES = ("paper", "bd")  # the tables paper.tex inputs
# Tables left out, with these notes, when no run gives them a row (compress runs have no score).
EMPTY_TABLES = {
    "paper": "no paper table: no run has a task score (a compress run measures rates and"
    " similarity only); every operating point is in the points table",
    "correlation": "no correlation table: no run has both a task score and a similarity metric",
}


@dataclass
class ReportOptions:
    tasks: Sequence[str] = ()
    datasets: Sequence[str] = ()
    codecs: Sequence[str] = ()
    metrics: Sequence[str] = ()
    points: Sequence[str] = ()
    score: str | None = None
    at_rate: Sequence[str] = ()
    anchor: str | None = None
    method: str = "akima"
    min_overlap: float = DEFAULT_MIN_OVERLAP
    log_rate: bool = False
    examples: Sequence[str] = ()
    example_count: int = DEFAULT_COUNT
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    resamples: int = 1000
    seed: int = 0


@dataclass
class Report:
    experiments: list[Experiment]
    palette: Palette
    options: ReportOptions
    notes: Notes = field(default_factory=Notes)
    points: list[str] = field(default_factory=list)  # --point settings, as the runs spell them
    runs: Runs | None = None
    captions: dict[Path, str] = field(default_factory=dict)  # figure PNG -> what it shows

    def paper(self) -> Table:
        return paper_table(
            self.experiments,
            self.points,
            self.options.score,
            parse_at_rate(self.options.at_rate),
        )


def prepare(paths: Sequence[str | Path], options: ReportOptions) -> Report:
    """Load, filter and aggregate; everything a figure or table needs."""
    runs = load_runs(paths)
    runs.table = filter_table(runs.table, options.tasks, options.datasets, options.codecs)
    exps = experiments(runs, options.resamples, options.seed)
    notes = Notes(runs.notes)
    for e in exps:
        for setting in e.failed_only:
            notes.add("every row failed for {cases}; left out.", f"{setting} ({e.title})")
        if not e.points:
            notes.add("no compressed setting has a successful row; no curves", e.title)
    check_present("--metric", options.metrics, {m for e in exps for m in e.metrics})
    if options.metrics:
        for e in exps:
            e.metrics = {k: v for k, v in e.metrics.items() if k in options.metrics}
    curves = {p.curve for e in exps for p in e.points}
    if options.anchor is not None and _anchor(dict.fromkeys(curves), options.anchor) is None:
        check_present("--anchor", [options.anchor], {label(c) for c in curves})
    if options.score is not None:
        check_present("--score", [options.score], {s for e in exps for s in e.scores})
    palette = Palette([p.curve for e in exps for p in e.points])
    return Report(exps, palette, options, notes, _points(exps, options.points), runs)


def _points(exps: list[Experiment], specs: Sequence[str]) -> list[str]:
    """--point specs as the runs' setting names; a spec that matches nothing is an error."""
    settings = {p.setting for e in exps for p in e.points}
    chosen = []
    for spec in specs:
        found = matching_settings(spec, settings)
        if not found:
            raise MpqError(
                f"--point {spec!r} matches no setting of these runs; they hold:"
                f" {', '.join(sorted(settings))}."
            )
        chosen += found
    return chosen


def figures(report: Report, out: Path) -> list[Path]:
    written: list[Path] = []
    for e in report.experiments:
        if not e.points:
            continue
        stem = f"{e.task}_{e.dataset}"
        for name in [*e.scores, *e.metrics]:
            fig = versus_rate(e, name, report.palette, report.options.log_rate)
            paths = save(fig, out, f"{stem}_{name}_vs_rate")
            report.captions[paths[-1]] = f"{e.title}: {_name(e, name)} vs rate, 95% CI bands."
            written += paths
        for score in e.scores:
            for metric in e.metrics:
                fig = score_vs_metric(e, score, metric, report.palette)
                paths = save(fig, out, f"{stem}_{score}_vs_{metric}")
                report.captions[paths[-1]] = (
                    f"{e.title}: {_name(e, score)} vs {metric} at each operating point."
                )
                written += paths
    return written


def _name(e: Experiment, name: str) -> str:
    return e.scores[name].get("label", name) if name in e.scores else name


def example_grids(report: Report, out: Path) -> list[Path]:
    """Decoded items of each experiment at each codec's operating point (PDF and PNG)."""
    written: list[Path] = []
    if not report.options.examples and report.options.example_count <= 0:
        return written
    items = set(report.runs.table.column("item_id").to_pylist())
    missing = [i for i in report.options.examples if i not in items]
    if missing:
        raise MpqError(
            f"--examples {', '.join(missing)}: no such item in these runs; items:"
            f" {', '.join(sorted(items)[:20])}{' ...' if len(items) > 20 else ''}."
        )
    for e in report.experiments:
        manifest = _manifest_of(report.runs, e)
        rows = report.runs.table.filter(
            pc.and_(
                pc.and_(pc.equal(report.runs.table.column("task"), e.task),
                        pc.equal(report.runs.table.column("dataset"), e.dataset)),
                pc.equal(report.runs.table.column("model"), e.model),
            )
        )  # fmt: skip
        examples, notes = collect(
            e, manifest, rows, report.options.examples, parse_at_rate(report.options.at_rate),
            report.options.cache_dir, report.options.example_count,
        )  # fmt: skip
        for note in notes:
            report.notes.add(note)
        if examples is not None and examples.rows:
            pdf, png = save(example_figure(examples), out, f"{e.task}_{e.dataset}_examples")
            report.captions[pdf] = _examples_caption(
                e.title, examples.modality, "blue, a check", "vermillion, a cross"
            )
            report.captions[png] = _examples_caption(e.title, examples.modality, "\u2713", "\u2717")
            written += [pdf, png]
    return written


def _examples_caption(title: str, modality: str, right: str, wrong: str) -> str:
    shown = (
        f"the central {CROP} px of each image"
        if modality == "image"
        else "a log-mel spectrogram of each item (one dB scale per item, from its original)"
    )
    return (
        f"{title}: each codec at its operating point of the paper table (its rate-targeted"
        f" setting at the common rate, else its measured setting nearest to it): {shown}, this"
        f" item's rate, and the model's prediction ({right}: correct, {wrong}: wrong, where the"
        " item has a label)."
    )


def _manifest_of(runs: Runs, e: Experiment) -> dict:
    """The manifest of the run an experiment's rows come from (its first, if several)."""
    matching = [m for m in runs.manifests.values() if m.get("task") == e.task]
    exact = [m for m in matching if str(m.get("task_config", {}).get("dataset", "")) == e.dataset]
    return (exact or matching or [{}])[0]


def bd_rows(report: Report) -> list[tuple[str, str, str, str, Delta, Delta]]:
    """BD deltas of every curve vs the anchor (default: each experiment's first curve)."""
    rows = []
    options = report.options
    for e in report.experiments:
        curves = e.curves()
        if len(curves) < 2:
            continue
        anchor = _anchor(curves, options.anchor)
        if anchor is None:
            report.notes.add("--anchor matches no curve of these experiments", e.title)
            continue
        for measure in [*e.scores, *e.metrics]:
            base = _curve_values(curves[anchor], measure)
            better = e.higher_is_better(measure)
            for curve, points in curves.items():
                if curve == anchor:
                    continue
                test = _curve_values(points, measure)
                with warnings.catch_warnings(record=True):
                    rate = bd_rate(base, test, options.method, options.min_overlap, better)
                    metric = bd_metric(base, test, options.method, options.min_overlap)
                pair = f"{measure}: {label(curve)} vs {label(anchor)}"
                if rate.reason and metric.reason and _cause(rate) == _cause(metric):
                    case = _case(pair, "BD-rate, BD-metric", rate.reason, anchor, curve)
                    report.notes.add_bd(e.title, rate.reason, case)
                else:
                    for kind, delta in (("BD-rate", rate), ("BD-metric", metric)):
                        if delta.reason:
                            case = _case(pair, kind, delta.reason, anchor, curve)
                            report.notes.add_bd(e.title, delta.reason, case)
                rows.append((e.title, measure, anchor, curve, rate, metric))
    return rows


def _case(pair: str, kinds: str, reason: str, anchor: str, test: str) -> str:
    """A BD note's case, naming the curve at fault when the reason is about one curve."""
    whose = {"the anchor curve": anchor, "the test curve": test}
    culprit = next((label(c) for start, c in whose.items() if reason.startswith(start)), "")
    return f"{pair} ({kinds}{f'; the {culprit} curve' if culprit else ''})"


def correlation_rows(report: Report) -> list[tuple[str, str, str, Correlation]]:
    rows = []
    for e in report.experiments:
        for score in e.scores:
            for metric in e.metrics:
                x = [_value(p.summary.metrics.get(metric)) for p in e.points]
                y = [_value(p.summary.scores.get(score)) for p in e.points]
                result = correlate(x, y, seed=report.options.seed)
                if result is not None:
                    rows.append((e.title, score, metric, result))
    return rows


def build(paths: Sequence[str | Path], out: str | Path, options: ReportOptions) -> Path:
    """Write OUT/figures/*.pdf|png, OUT/tables/*.tex and OUT/summary.md; returns summary.md."""
    out = Path(out)
    report = prepare(paths, options)
    figure_paths = figures(report, out / "figures")
    figure_paths += example_grids(report, out / "figures")
    tables = {
        "paper": report.paper(),
        "points": points_table(report.experiments),
        "bd": bd_table(bd_rows(report), options.method),
        "correlation": correlation_table(correlation_rows(report)),
    }
    for name, why in EMPTY_TABLES.items():
        if not tables[name].rows:
            del tables[name]
            report.notes.add(why)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        (out / "tables" / f"{name}.tex").write_text(to_latex(table, wide=name in WIDE))
    paper_figures = [f for e in report.experiments if (f := _key_figure(report, e, out))]
    grids = [p for p in figure_paths if p.suffix == ".pdf" and p.stem.endswith("_examples")]
    paper_figures += [
        Figure(str(p.relative_to(out).with_suffix("")), report.captions[p], f"fig:mpq-{p.stem}",
               wide=True)
        for p in grids
    ]  # fmt: skip
    (out / "paper.tex").write_text(
        include_file(
            paper_figures, [f"tables/{name}.tex" for name in PAPER_TABLES if name in tables]
        )
    )
    (out / "report.html").write_text(_html(report, tables, figure_paths, paper_figures, out))
    summary = out / "summary.md"
    summary.write_text(_summary(report, tables, figure_paths, out))
    return summary


def _html(report: Report, tables, figure_paths, paper_figures, out: Path) -> str:
    pngs = [p for p in figure_paths if p.suffix == ".png"]
    key = {out / f"{f.path}.png" for f in paper_figures if not f.wide}
    grids = [p for p in pngs if p.stem.endswith("_examples")]
    sections = []
    if "paper" in tables:
        sections.append(
            (
                "Task score at a common rate",
                html_table(tables["paper"])
                + '<div class="figures">'
                + "".join(
                    image(out / f"{f.path}.png", f.caption) for f in paper_figures if not f.wide
                )
                + "</div>",
            )
        )
    if grids:
        sections.append(
            ("What the codecs did", "".join(image(p, report.captions[p], True) for p in grids))
        )
    others = [p for p in pngs if p not in key and p not in grids]
    sections += [
        (
            "Figures",
            '<div class="figures">'
            + "".join(image(p, report.captions.get(p, p.stem)) for p in others)
            + "</div>",
        ),
        ("Every operating point", html_table(tables["points"])),
        ("BD-rate and BD-metric", html_table(tables["bd"])),
    ]
    if "correlation" in tables:
        sections.append(("Similarity vs task score", html_table(tables["correlation"])))
    sections.append(("Failures and flips", browser_section(report.runs.table)))
    runs = ", ".join(
        f"{m['run_id']} ({m.get('task')}, {m.get('status')})"
        for m in report.runs.manifests.values()
    )
    return page(f"mpq report: {runs}", sections, list(report.notes))


def _key_figure(report: Report, e: Experiment, out: Path) -> Figure | None:
    """The primary score vs rate of an experiment, as the paper's figure of it."""
    name = primary_score(e, report.options.score)
    path = out / "figures" / f"{slug(f'{e.task}_{e.dataset}_{name}_vs_rate')}.pdf"
    if name is None or not path.exists():
        return None
    info = e.scores[name]
    caption = (
        f"{info.get('label', name)} vs rate, {e.title} ({e.model}): mean over items with 95%"
        " bootstrap intervals (bands); dashed: uncompressed"
        + ("; stars: rate-targeted settings." if e.targets() else ".")
    )
    return Figure(str(path.relative_to(out).with_suffix("")), caption, f"fig:mpq-{slug(e.task)}")


def _summary(report, tables, figure_paths: list[Path], out: Path) -> str:
    lines = [
        "# mpq report",
        "",
        "The whole report in one page: `report.html`; for a paper: `paper.tex`.",
        "",
    ]
    if report.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in report.notes), ""]
    titles = {
        "paper": "Task score at a common rate",
        "points": "Every operating point",
        "bd": "BD-rate and BD-metric",
        "correlation": "Similarity vs task score",
    }
    for name, table in tables.items():
        lines += [f"## {titles[name]}", "", to_markdown(table), f"LaTeX: `tables/{name}.tex`", ""]
    pngs = [p for p in figure_paths if p.suffix == ".png"]
    if pngs:
        lines += ["## Figures", ""]
        for png in pngs:
            rel = png.relative_to(out)
            lines += [f"![{png.stem}]({rel})", f"PDF: `{rel.with_suffix('.pdf')}`", ""]
    return "\n".join(lines)


def _cause(delta: Delta) -> str:
    return delta.reason.split(" (")[0].replace("anchor", "test")


def _anchor(curves: dict, wanted: str | None) -> str | None:
    if wanted is None:
        return next(iter(curves))
    matches = [c for c in curves if c == wanted or label(c) == wanted or c.split(":")[0] == wanted]
    return matches[0] if matches else None


def _curve_values(points, measure: str) -> tuple[list[float], list[float]]:
    return [p.rate for p in points], [_value(score_of(p.summary, measure)) for p in points]


def _value(aggregate) -> float:
    return float("nan") if aggregate is None else aggregate.value

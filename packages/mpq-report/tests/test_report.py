import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image
from synthetic_runs import METRICS, SCORES, compile_latex, write_compress_run, write_run

from mpq.core.aggregate import aggregate
from mpq.core.errors import MpqError
from mpq.report.build import ReportOptions, bd_rows, build, correlation_rows, prepare
from mpq.report.cli import main
from mpq.report.curves import OKABE_ITO
from mpq.report.tables import paper_table, points_table, to_latex

JPEG = [
    (5, 0.08, 0.40, 24.0),
    (20, 0.16, 0.60, 27.0),
    (50, 0.32, 0.80, 30.0),
    (90, 0.64, 0.90, 34.0),
]
# Same scores at 80% of JPEG's rate: BD-rate exactly -20%.
WEBP = [(q, r * 0.8, a, p + 0.5) for q, r, a, p in JPEG]


@pytest.fixture
def image_run(tmp_path):
    return write_run(tmp_path / "img", {"jpeg": JPEG, "webp": WEBP}, reference_accuracy=0.96)


def test_points_carry_known_means_rates_and_core_cis(image_run):
    report = prepare([image_run], ReportOptions(resamples=500))
    (exp,) = report.experiments
    assert exp.rate_unit == "bpp" and exp.reference.scores["accuracy"].value == pytest.approx(0.96)
    curves = exp.curves()
    assert list(curves) == ["jpeg", "webp"]
    jpeg = curves["jpeg"]
    assert [p.rate for p in jpeg] == pytest.approx([0.08, 0.16, 0.32, 0.64])
    assert [p.summary.scores["accuracy"].value for p in jpeg] == pytest.approx([0.4, 0.6, 0.8, 0.9])
    expected = aggregate("mean", [[1.0] * 20 + [0.0] * 30], resamples=500, seed=0)
    assert jpeg[0].summary.scores["accuracy"] == expected
    assert jpeg[2].summary.metrics["psnr"].value == pytest.approx(30.0)


def test_paper_table_compares_codecs_at_a_common_rate(image_run):
    report = prepare([image_run], ReportOptions(resamples=0))
    table = paper_table(report.experiments)
    assert table.columns == ["", "Original", "jpeg", "webp"]
    title, scores, rates = table.rows
    assert title[0].span and title[0].text == "classify / beans: Top-1 accuracy, n = 50 items"
    # 0.08 bpp is the lowest rate both reach: measured on JPEG, interpolated on WebP.
    assert [c.text for c in scores[:3]] == ["score", "0.960", "0.400"]
    assert (scores[2].mark, scores[3].mark) == ("", "dagger")
    assert [c.text for c in rates] == ["rate (bpp)", "", "0.080", "0.080"]
    assert "0.080 bpp, the lowest rate every codec reaches" in table.caption
    assert not any(c.bold for c in scores)  # no intervals (resamples=0): no claim of a winner
    chosen = paper_table(report.experiments, ["jpeg:quality=50", "webp:quality=20"])
    _, scores, rates = chosen.rows
    assert [c.text for c in scores[2:]] == ["0.800", "0.600"]
    assert [c.text for c in rates[2:]] == ["0.320", "0.128"]


@pytest.mark.parametrize(("n", "bold"), [(50, False), (400, True)])
def test_bold_only_where_the_interval_clears_the_runner_up(tmp_path, n, bold):
    run = write_run(tmp_path / "r", {"jpeg": JPEG, "webp": WEBP}, n=n)
    report = prepare([run], ReportOptions(resamples=500))
    title, scores, _ = paper_table(report.experiments, ["jpeg:quality=50", "webp:quality=20"]).rows
    # 0.8 vs 0.6 correct: the 95% intervals overlap over 50 items and separate over 400.
    assert (scores[2].bold, scores[3].bold) == (bold, False)
    assert title[0].text.endswith(f"n = {n} items")


def test_bd_rows_give_the_known_answer(image_run):
    report = prepare([image_run], ReportOptions(resamples=0))
    rows = {(r[1], r[3]): r for r in bd_rows(report)}
    _, _, anchor, _, rate, _ = rows[("accuracy", "webp")]
    assert anchor == "jpeg" and rate.value == pytest.approx(-20.0, abs=1e-9)
    _, _, _, _, _, psnr_gain = rows[("psnr", "webp")]
    assert psnr_gain.value > 0.5  # +0.5 dB at 80% of the rate


def test_correlation_of_psnr_with_accuracy(image_run):
    report = prepare([image_run], ReportOptions(resamples=0))
    ((_, score, metric, corr),) = correlation_rows(report)
    assert (score, metric, corr.n) == ("accuracy", "psnr", 8)
    assert corr.spearman > 0.9 and corr.spearman_ci[0] <= corr.spearman <= corr.spearman_ci[1]
    x = [p for *_, p in JPEG] + [p + 0.5 for *_, p in JPEG]
    y = [a for _, _, a, _ in JPEG] * 2
    assert corr.pearson == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_build_writes_figures_tables_and_summary(image_run, tmp_path):
    summary = build([image_run], tmp_path / "report", ReportOptions(resamples=100))
    out = tmp_path / "report"
    assert {p.name for p in (out / "tables").iterdir()} == {
        "paper.tex", "points.tex", "bd.tex", "correlation.tex",
    }  # fmt: skip
    pdfs = sorted((out / "figures").glob("*.pdf"))
    pngs = sorted((out / "figures").glob("*.png"))
    assert len(pdfs) == len(pngs) == 3  # accuracy vs rate, psnr vs rate, accuracy vs psnr
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    text = summary.read_text()
    assert "![classify_beans_accuracy_vs_rate]" in text and "-20.00" in text


def test_runs_without_a_task_score_get_no_empty_paper_or_correlation_table(tmp_path):
    # A compress run has rates and similarity only: a paper table would have no row, and its
    # caption would still name a common rate.
    run, _ = write_compress_run(tmp_path)
    summary = build([run], tmp_path / "report", ReportOptions(resamples=0)).read_text()
    out = tmp_path / "report"
    assert not (out / "tables" / "paper.tex").exists()
    assert "tables/paper.tex" not in (out / "paper.tex").read_text()
    assert "Task score at a common rate" not in summary
    assert "Task score at a common rate" not in (out / "report.html").read_text()
    assert "no paper table: no run has a task score" in summary
    assert not (out / "tables" / "correlation.tex").exists()
    assert "no correlation table: no run has both a task score and a similarity metric" in summary
    assert "## Every operating point" in summary


def test_the_points_table_says_which_items_a_similarity_mean_leaves_out(tmp_path):
    # PSNR of an unchanged item is inf and MS-SSIM of a small one NaN: the mean is of the rest.
    from synthetic_runs import _row

    from mpq.core.store import RunStore, new_manifest

    manifest = new_manifest(task="classify", codecs=["none", "jpeg:quality=5"], scores=SCORES,
                            metrics=METRICS, codec_knobs={"jpeg": "quality"},
                            task_config={"dataset": "beans"})  # fmt: skip
    psnr = [float("inf"), 30.0, float("nan"), 32.0, float("inf")]
    rows = [_row("classify", "beans", f"i{i}", "none", "none", None, 1.0) for i in range(5)]
    rows += [
        _row("classify", "beans", f"i{i}", "jpeg:quality=5", "jpeg", (0.5, "bpp"), 1.0, value)
        for i, value in enumerate(psnr)
    ]
    with RunStore.open(tmp_path / "run", manifest) as store:
        store.write([{**row, "run_id": store.manifest["run_id"]} for row in rows])
        store.finish()
    table = points_table(prepare([tmp_path / "run"], ReportOptions(resamples=0)).experiments)
    cells = {row[0].text: row[-1].text for row in table.rows if len(row) > 1}
    assert cells["jpeg:quality=5"] == "31.000 n=2; inf n=2"
    assert "inf n=: items with an infinite value" in table.caption


def test_png_is_a_real_plot_in_the_report_palette(image_run, tmp_path):
    build([image_run], tmp_path / "r", ReportOptions(resamples=100))
    image = np.asarray(
        Image.open(tmp_path / "r/figures/classify_beans_accuracy_vs_rate.png").convert("RGB")
    )
    assert image.shape[0] > 400 and image.shape[1] > 600
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    for hex_colour in OKABE_ITO[:2]:  # jpeg and webp lines
        rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(image.astype(int) - rgb).sum(axis=2) < 30).sum() > 100


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex (texlive)")
@pytest.mark.parametrize("columns", ["twocolumn", "onecolumn"])
def test_tables_compile_and_fit_the_page(image_run, tmp_path, columns):
    report = prepare([image_run], ReportOptions(resamples=50))
    report.experiments[0].task = "class_ify & 100% #1"  # names that need escaping
    body = to_latex(report.paper()) + to_latex(points_table(report.experiments), wide=True)
    log = compile_latex(tmp_path, body, columns)
    assert "Overfull \\hbox" not in log, log[log.find("Overfull") - 200 :][:800]
    assert "class\\_ify" in (tmp_path / "doc.tex").read_text()


def test_merging_identical_runs_keeps_one_row_per_key(image_run, tmp_path):
    twin = write_run(tmp_path / "twin", {"jpeg": JPEG, "webp": WEBP}, reference_accuracy=0.96)
    report = prepare([image_run, twin], ReportOptions(resamples=0))
    assert report.experiments[0].curves()["jpeg"][0].summary.n_ok == 50


def test_merging_disagreeing_runs_is_refused(image_run, tmp_path):
    other = [(q, r, a - 0.1, p) for q, r, a, p in JPEG]
    twin = write_run(tmp_path / "twin", {"jpeg": other}, reference_accuracy=0.96)
    with pytest.raises(MpqError, match=r"runs disagree about stat\.correct"):
        prepare([image_run, twin], ReportOptions(resamples=0))


def test_image_and_audio_runs_stay_apart(image_run, tmp_path):
    audio = write_run(tmp_path / "aud", {"mp3": [(1, 8.0, 0.5, 20), (2, 16.0, 0.7, 25)]},
                      task="asr", dataset="cv11", unit="kbps")  # fmt: skip
    report = prepare([image_run, audio], ReportOptions(resamples=0))
    assert [(e.task, e.rate_unit) for e in report.experiments] == [
        ("asr", "kbps"),
        ("classify", "bpp"),
    ]
    only = prepare([image_run, audio], ReportOptions(resamples=0, tasks=["asr"]))
    assert [e.task for e in only.experiments] == ["asr"]


def test_mixed_units_in_one_experiment_are_refused(image_run, tmp_path):
    audio = write_run(
        tmp_path / "aud", {"mp3": [(1, 8.0, 0.5, 20)]}, unit="kbps", reference_accuracy=0.96
    )
    with pytest.raises(MpqError, match="mixes rate units"):
        prepare([image_run, audio], ReportOptions(resamples=0))


@pytest.mark.parametrize(
    ("status", "said"),
    [("running", "is still running, or was killed"), ("interrupted", "was interrupted")],
)
def test_incomplete_run_is_reported_with_a_note(tmp_path, status, said):
    run = write_run(tmp_path / "r", {"jpeg": JPEG}, complete=False)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": status}))
    with pytest.warns(UserWarning, match=said):
        report = prepare([run], ReportOptions(resamples=0))
    assert any(said in note and "run again, completes it" in note for note in report.notes)


def test_only_failed_rows_give_notes_not_a_crash(tmp_path):
    run = write_run(tmp_path / "r", {"jpeg": JPEG[:1]}, failed={"jpeg:quality=5": 50})
    summary = build([run], tmp_path / "out", ReportOptions(resamples=0))
    assert "every row failed for jpeg:quality=5" in summary.read_text()
    assert "no compressed setting has a successful row" in summary.read_text()


def test_empty_and_foreign_run_directories(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MpqError, match="not an mpq run directory"):
        prepare([tmp_path / "empty"], ReportOptions())
    run = write_run(tmp_path / "r", {"jpeg": JPEG})
    for part in (run / "results").glob("*.parquet"):
        part.unlink()
    with pytest.raises(MpqError, match="has no rows yet"):
        prepare([run], ReportOptions())


def test_schema_mismatch_is_refused(image_run):
    part = next((image_run / "results").glob("*.parquet"))
    table = pq.read_table(part)
    pq.write_table(table.replace_schema_metadata({b"mpq.schema_version": b"7"}), part)
    with pytest.raises(MpqError, match="schema version 7"):
        prepare([image_run], ReportOptions())


def test_cli_commands(image_run, tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        main, ["build", str(image_run), "--out", str(tmp_path / "o"), "--resamples", "50"]
    )
    assert result.exit_code == 0, result.output
    assert "Report written" in result.output
    result = runner.invoke(
        main,
        ["table", str(image_run), "--resamples", "0", "--point", "jpeg:quality=50", "--format",
         "latex"],
    )  # fmt: skip
    assert "\\toprule" in result.output and "0.800 & 0.464$^\\dagger$" in result.output
    result = runner.invoke(main, ["bd", str(image_run), "--anchor", "webp"])
    assert "| classify / beans | accuracy | webp | jpeg | 25.00 |" in result.output
    result = runner.invoke(
        main, ["plot", str(image_run), "--out", str(tmp_path / "p"), "--log-rate"]
    )
    assert "6 files written" in result.output
    result = runner.invoke(main, ["build", str(tmp_path / "nope"), "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "not a directory" in result.output


def test_manifest_of_runs_is_the_only_source(image_run):
    manifest = json.loads((image_run / "manifest.json").read_text())
    manifest["scores"]["accuracy"]["label"] = "Renamed"
    (image_run / "manifest.json").write_text(json.dumps(manifest))
    table = paper_table(prepare([image_run], ReportOptions(resamples=0)).experiments)
    assert table.rows[0][0].text == "classify / beans: Renamed, n = 50 items"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex (texlive)")
@pytest.mark.parametrize("columns", ["twocolumn", "onecolumn"])
def test_the_paper_include_file_compiles_and_fits(image_run, tmp_path, columns):
    out = tmp_path / "report"
    build([image_run], out, ReportOptions(resamples=50))
    body = (
        f"\\newcommand{{\\mpqreport}}{{{out}}}\\input{{{out}/paper.tex}}"
        f"\\input{{{out}/tables/points.tex}}\\input{{{out}/tables/correlation.tex}}"
    )
    log = compile_latex(tmp_path, body, columns)
    assert "Overfull \\hbox" not in log
    assert "classify_beans_accuracy_vs_rate.pdf" in log  # the figure was included


def test_point_accepts_the_codec_spelling_of_a_run(tmp_path):
    run = write_run(tmp_path / "a", {"mp3": [(8000, 8.0, 0.5, 20.0), (16000, 16.0, 0.7, 25.0)]},
                    task="asr", unit="kbps")  # fmt: skip
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["codecs"] = [c.replace("quality", "bitrate") for c in manifest["codecs"]]
    (run / "manifest.json").write_text(json.dumps(manifest))
    table = pq.read_table(next((run / "results").glob("*.parquet")))
    settings = [s.replace("quality", "bitrate") for s in table.column("setting").to_pylist()]
    table = table.set_column(table.schema.get_field_index("setting"), "setting", [settings])
    pq.write_table(table, next((run / "results").glob("*.parquet")))
    # mp3 is not installed here: values compare as numbers, with the k suffix core's parser reads.
    report = prepare([run], ReportOptions(resamples=0, points=["mp3:bitrate=16k"]))
    assert report.points == ["mp3:bitrate=16000"]
    with pytest.raises(MpqError, match=r"--point 'mp3:bitrate=12k' matches no setting.*16000"):
        prepare([run], ReportOptions(resamples=0, points=["mp3:bitrate=12k"]))


def test_point_uses_core_parser_for_an_installed_codec(tmp_path):
    codec = "python:mpq.core.testing:SyntheticCodec"
    run = write_run(tmp_path / "r", {codec: JPEG})
    report = prepare([run], ReportOptions(resamples=0, points=[f"{codec}:quality=5,50"]))
    assert report.points == [f"{codec}:quality=5", f"{codec}:quality=50"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("codecs", ["jpg"], "--codec 'jpg' matches nothing in these runs; they hold: jpeg, webp."),
        (
            "tasks",
            ["clasify"],
            "--task 'clasify' matches nothing in these runs; they hold: classify",
        ),
        ("metrics", ["ssim"], "--metric 'ssim' matches nothing in these runs; they hold: psnr."),
        ("score", "top5", "--score 'top5' matches nothing in these runs; they hold: accuracy."),
        ("anchor", "avif", "--anchor 'avif' matches nothing in these runs; they hold: jpeg, webp."),
    ],
)
def test_filters_that_match_nothing_are_errors_listing_what_exists(
    image_run, option, value, message
):
    with pytest.raises(MpqError) as error:
        prepare([image_run], ReportOptions(resamples=0, **{option: value}))
    assert message in str(error.value)


def test_a_score_over_some_items_says_how_many(tmp_path):
    run = write_run(tmp_path / "r", {"jpeg": JPEG})
    table = pq.read_table(next((run / "results").glob("*.parquet")))
    labelled = [i in ("i000", "i001") for i in table.column("item_id").to_pylist()]
    correct = [c if keep else None for c, keep in zip(table.column("stat.correct").to_pylist(),
                                                      labelled, strict=True)]  # fmt: skip
    index = table.schema.get_field_index("stat.correct")
    pq.write_table(table.set_column(index, "stat.correct", [correct]),
                   next((run / "results").glob("*.parquet")))  # fmt: skip
    report = prepare([run], ReportOptions(resamples=0))
    title, _, _ = report.paper().rows
    assert title[0].text == "classify / beans: Top-1 accuracy, n = 2 of 50 items"
    (exp,) = report.experiments
    assert exp.reference.scores["accuracy"].n == 2 and exp.reference.n_ok == 50

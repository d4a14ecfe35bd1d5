import shutil

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from synthetic_runs import compile_latex, write_run

from mpq.core import registry
from mpq.core.codec import apply_setting, parse_codec_spec
from mpq.core.engine import SweepConfig, run_sweep
from mpq.core.testing import SyntheticCodec, SyntheticTask
from mpq.report.build import ReportOptions, build, prepare
from mpq.report.examples import collect, flips_first, operating_points

CODEC = "python:mpq.core.testing:SyntheticCodec"
OPTIONS = {"items": 8, "size": 24, "seed": 3}


@pytest.fixture
def synthetic_run(tmp_path):
    registry.tasks.register("synthetic", SyntheticTask)
    config = SweepConfig(
        parse_codec_spec(f"{CODEC}:quality=2,30,95"), workers=0, cache_dir=tmp_path / "cache",
        progress=False, manifest={"task_options": OPTIONS},
    )  # fmt: skip
    run_sweep(SyntheticTask(**OPTIONS), tmp_path / "run", config)
    return tmp_path / "run"


def test_decoded_examples_come_back_through_core_registries_and_cache(synthetic_run, tmp_path):
    report = prepare([synthetic_run], ReportOptions(resamples=0))
    (exp,) = report.experiments
    manifest = next(iter(report.runs.manifests.values()))
    examples, notes = collect(
        exp, manifest, report.runs.table, ["img00004"], {}, tmp_path / "cache"
    )
    assert notes == []
    ((item, panels),) = examples.rows
    original = next(i for i in SyntheticTask(**OPTIONS).items() if i.id == "img00004").data
    assert item == "img00004" and np.array_equal(panels[0].data, original)
    (point,) = operating_points(exp, {}).values()
    assert point.rate == min(p.rate for p in exp.points)  # no common rate: the lowest-rate point
    expected = apply_setting(SyntheticCodec, parse_codec_spec(point.setting)[0], original).decoded
    assert np.array_equal(panels[1].data, expected)
    assert panels[1].title.startswith("SyntheticCodec\n") and panels[1].title.endswith(" bpp")
    assert panels[0].prediction in {"0", "1"} and panels[0].correct is True


def test_the_grid_is_drawn_by_build_and_encodes_again_without_a_cache(synthetic_run, tmp_path):
    build([synthetic_run], tmp_path / "out", ReportOptions(resamples=0, cache_dir=None))
    png = tmp_path / "out/figures/synthetic_synthetic-8x24-seed3_examples.png"
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[0] > 300 and len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    if shutil.which("pdflatex"):  # the grid is a two-column figure of paper.tex
        out = tmp_path / "out"
        body = f"\\newcommand{{\\mpqreport}}{{{out}}}\\input{{{out}/paper.tex}}"
        log = compile_latex(tmp_path, body, "twocolumn")
        assert "Overfull \\hbox" not in log and "examples.pdf" in log


def test_flips_first_orders_items_by_the_rate_their_prediction_changes():
    # c flips already at 0.5 bpp, a only at 0.1, b never; unflipped items come last.
    rows = [
        ("a", "none", None, "1"), ("a", "x:q=1", 0.1, "2"), ("a", "x:q=9", 0.5, "1"),
        ("b", "none", None, "1"), ("b", "x:q=1", 0.1, "1"), ("b", "x:q=9", 0.5, "1"),
        ("c", "none", None, "3"), ("c", "x:q=1", 0.1, "2"), ("c", "x:q=9", 0.5, "2"),
    ]  # fmt: skip
    table = pa.table(
        {
            "item_id": [r[0] for r in rows], "setting": [r[1] for r in rows],
            "bpp": [r[2] for r in rows], "kbps": pa.array([None] * len(rows), pa.float64()),
            "prediction": [r[3] for r in rows], "status": ["ok"] * len(rows),
        }
    )  # fmt: skip
    assert flips_first(table, ["x:q=1", "x:q=9"], 3) == ["c", "a", "b"]
    assert flips_first(table, ["x:q=1"], 2) == ["a", "c"]


def test_without_the_task_installed_the_grid_is_left_out_with_a_note(tmp_path):
    run = write_run(tmp_path / "r", {"jpeg": [(5, 0.1, 0.5, 25.0), (50, 0.4, 0.9, 31.0)]})
    summary = build([run], tmp_path / "out", ReportOptions(resamples=0))
    assert "no example grid (task 'classify' is not installed" in summary.read_text()
    assert not list((tmp_path / "out/figures").glob("*examples*"))


def test_log_mel_puts_a_tone_in_its_mel_band():
    from mpq.report.examples import MELS, _log_mel

    rate = 16000
    t = np.arange(rate) / rate
    spectrogram = _log_mel(np.sin(2 * np.pi * 1000 * t)[None, :].astype(np.float32))
    assert spectrogram.shape[0] == MELS
    band = int(np.argmax(spectrogram.mean(axis=1)))
    edges = np.linspace(0, 2595 * np.log10(1 + (rate / 2) / 700), MELS + 2)
    centre_hz = 700 * (10 ** (edges[band + 1] / 2595) - 1)
    assert abs(centre_hz - 1000) < 100  # HTK mel bands are ~70 Hz wide around 1 kHz

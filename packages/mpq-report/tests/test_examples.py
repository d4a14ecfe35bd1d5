import shutil
import struct
import zlib
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from synthetic_runs import compile_latex, write_compress_run, write_run

from mpq.core import registry
from mpq.core.codec import Codec, Param, apply_setting, parse_codec_spec
from mpq.core.engine import SweepConfig, run_sweep
from mpq.core.errors import MpqError
from mpq.core.rate import AudioExtent, Bitstream
from mpq.core.task import Item, Score, Task
from mpq.core.testing import SyntheticCodec, SyntheticTask
from mpq.report.build import ReportOptions, build, example_grids, prepare
from mpq.report.examples import collect, flips_first, operating_points
from mpq.report.examples import figure as example_figure

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


def test_a_compress_run_has_no_grid_and_its_note_says_where_decoded_items_go(tmp_path):
    run, files = write_compress_run(tmp_path)
    report = prepare([run], ReportOptions(resamples=0, examples=[str(files[1])]))
    assert example_grids(report, tmp_path / "out") == []
    assert list(report.notes) == [
        f"compress / {files[0].parent}: no example grid (a compress run keeps no task to load"
        " its files again; to see its decoded items, run compress with --save-decoded, which"
        " writes each one under the run's decoded/ folder)"
    ]


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


class QuantisedAudio(Codec):
    """float (channels, samples) in [-1, 1] quantised to `depth` bits: a known audio codec."""

    name = "python:test_examples:QuantisedAudio"
    modality = "audio"
    parameters = (Param("depth", int, 8, low=2, high=8, rate=+1),)

    def encode(self, data: np.ndarray) -> Bitstream:
        levels = 2 ** (self.values["depth"] - 1)
        q = np.round(np.clip(data, -1, 1) * (levels - 1)).astype(np.int8)
        header = struct.pack("<III", *data.shape, levels)
        return Bitstream(header + zlib.compress(q.tobytes()), AudioExtent(data.shape[1], 1, 8000))

    def decode(self, bitstream: Bitstream) -> np.ndarray:
        channels, samples, levels = struct.unpack_from("<III", bitstream.payload)
        raw = zlib.decompress(bitstream.payload[12:])
        q = np.frombuffer(raw, dtype=np.int8).reshape(channels, samples)
        return (q.astype(np.float32) / (levels - 1)).astype(np.float32)


class TwoBandSeparation(Task):
    """'Separates' a mixture into a low and a high band (a moving average and the rest)."""

    name = "two-band"
    modality = "audio"
    scores: ClassVar[dict[str, Score]] = {"energy": Score("mean", ("energy",), "Low-band energy")}

    def items(self):
        t = np.arange(8000) / 8000
        for i in range(2):
            mix = 0.5 * np.sin(2 * np.pi * 200 * t) + 0.3 * np.sin(2 * np.pi * (2000 + 500 * i) * t)
            yield Item(f"track{i}", mix[None, :].astype(np.float32), None)

    def predict(self, batch):
        kernel = np.ones(16) / 16
        low = [np.convolve(x[0], kernel, mode="same")[None, :] for x in batch]
        return [{"low": lo, "high": x - lo} for x, lo in zip(batch, low, strict=True)]

    def score(self, item, prediction, reference_prediction):
        return {"energy": float(np.mean(prediction["low"] ** 2))}

    def prediction_json(self, prediction):
        return None


def test_a_separator_gets_one_row_per_stem(tmp_path):
    registry.tasks.register("two-band", TwoBandSeparation)
    config = SweepConfig(parse_codec_spec(f"{QuantisedAudio.name}:depth=3,6"), workers=0,
                         cache_dir=None, progress=False)  # fmt: skip
    run_sweep(TwoBandSeparation(), tmp_path / "run", config)
    report = prepare([tmp_path / "run"], ReportOptions(resamples=0))
    (exp,) = report.experiments
    manifest = next(iter(report.runs.manifests.values()))
    examples, notes = collect(exp, manifest, report.runs.table, ["track1"], {}, None)
    assert notes == [], notes
    assert [name for name, _ in examples.rows] == ["track1: low", "track1: high"]
    (_, original_panels), (_, high_panels) = examples.rows
    mix = next(i for i in TwoBandSeparation().items() if i.id == "track1").data
    expected = TwoBandSeparation().predict([mix])[0]
    assert np.allclose(original_panels[0].data, expected["low"])
    assert np.allclose(high_panels[0].data, expected["high"])
    assert original_panels[1].title.startswith("QuantisedAudio\n") and high_panels[1].title == ""
    png = tmp_path / "grid.png"
    example_figure(examples).savefig(png, dpi=80)
    assert np.asarray(Image.open(png)).shape[0] > 150


def test_an_example_id_that_matches_no_item_is_an_error(synthetic_run, tmp_path):
    with pytest.raises(MpqError, match=r"--examples nope: no such item in these runs; items: img"):
        build([synthetic_run], tmp_path / "out", ReportOptions(resamples=0, examples=["nope"]))

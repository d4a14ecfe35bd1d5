import json

import pytest

from mpq.core.codec import REFERENCE_SETTING, CodecResult, Setting, Target
from mpq.core.item_coding import Coded
from mpq.core.rate import AudioExtent, Bitstream, ImageExtent
from mpq.core.records import rows_to_table
from mpq.core.sweep_codec import Decoded
from mpq.core.sweep_items import ItemState, SweepJob
from mpq.core.sweep_rows import RowBuilder, identity_columns
from mpq.core.task import Item
from mpq.core.testing import SyntheticTask

IMAGE_COLUMNS = {"height", "width", "pixels"}
AUDIO_COLUMNS = {"samples", "sample_rate"}


def builder():
    task = SyntheticTask(items=2)
    return RowBuilder(task, identity_columns(task.name, task.describe(), "run-1"))


def decoded(extent):
    state = ItemState(Item("a", data=None, target=1), None, reference_prediction=1)
    result = CodecResult(Bitstream(b"x" * 100, extent), None, {"quality": 5}, 0.25, 0.5, 3)
    return Decoded(SweepJob(state, Setting("syn", (("quality", 5),))), None, Coded(result))


def test_image_row_holds_the_image_extent_and_bpp():
    row = builder().ok(decoded(ImageExtent(10, 20, 3)), 0, 0.125, {"metric.mae": 1.5})
    assert (row["height"], row["width"], row["pixels"], row["channels"]) == (10, 20, 200, 3)
    assert not AUDIO_COLUMNS & row.keys()
    assert row["bytes"] == 100 and row["bits"] == 800
    assert row["bpp"] == 4.0 and row["kbps"] is None
    assert (row["encode_s"], row["decode_s"], row["probes"]) == (0.25, 0.5, 3)
    assert row["stat.correct"] == 0.0 and row["stat.agree"] == 0.0
    assert row["metric.mae"] == 1.5 and row["predict_s"] == 0.125
    assert row["prediction"] == "0" and row["codec_params"] == json.dumps({"quality": 5})
    assert (row["run_id"], row["dataset"], row["model"]) == (
        "run-1",
        "synthetic-2x24-seed0",
        "brightness",
    )
    assert row["status"] == "ok" and row["cache_hit"] is False


def test_audio_row_holds_the_audio_extent_and_kbps():
    row = builder().ok(decoded(AudioExtent(16000, 2, 8000)), 1, 0.0, {})
    assert (row["samples"], row["sample_rate"], row["channels"]) == (16000, 8000, 2)
    assert not IMAGE_COLUMNS & row.keys()
    assert row["kbps"] == pytest.approx(800 / 2.0 / 1000) and row["bpp"] is None
    table = rows_to_table([row])
    assert table.column("pixels").to_pylist() == [None]
    assert table.column("samples").to_pylist() == [16000]


def test_reference_and_failed_rows_have_no_rate():
    state = ItemState(Item("a", data=None, target=1), None)
    reference = builder().ok(Decoded(SweepJob(state, REFERENCE_SETTING), None), 1, 0.0, {})
    assert reference["setting"] == "none" and reference["codec_params"] is None
    assert "bytes" not in reference and reference["stat.correct"] == 1.0
    setting = Setting("syn", (("quality", 5),), Target("bpp", 0.5))
    failed = builder().failed("b", setting, "ValueError: no")
    assert failed["status"] == "failed" and failed["error"] == "ValueError: no"
    assert (failed["target_unit"], failed["target_value"]) == ("bpp", 0.5)
    assert "bytes" not in failed and failed["cache_hit"] is None

import numpy as np
import soundfile
from click.testing import CliRunner

from mpq.audio.cli import main
from mpq.core import registry
from mpq.core.store import read_run
from mpq.core.testing import SyntheticCodec, heavy_imports_of


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "mpq-audio, version 0.1.0" in result.output


def test_codecs_lists_only_audio_codecs(monkeypatch):
    monkeypatch.setitem(registry.codecs._registered, "syn-image", SyntheticCodec)
    result = CliRunner().invoke(main, ["codecs"])
    assert result.exit_code == 0
    assert "syn-image" not in result.output
    for name in ("mp3", "opus", "aac", "encodec"):
        assert f"{name} (mpq-audio)" in result.output


def test_compress_rows_kbps_and_failed_files(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    t = np.arange(48000) / 16000
    soundfile.write(
        folder / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000
    )
    (folder / "broken.wav").write_bytes(b"RIFF....not really")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["compress", str(folder), "--codec", "mp3:bitrate=16k,32k", "--metric", "si-sdr",
         "--out", str(out), "--workers", "0", "--no-cache", "--no-progress", "--save-decoded"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _, table = read_run(out)
    rows = table.to_pylist()
    assert len(rows) == 2 * 3
    for row in rows:
        if "broken" in row["item_id"]:
            assert row["status"] == "failed" and "not a readable audio file" in row["error"]
        elif row["setting"] != "none":
            assert row["kbps"] == 8 * row["bytes"] / (row["samples"] / row["sample_rate"]) / 1000
            assert row["metric.si-sdr"] > 5
    assert len(list((out / "decoded").rglob("*.wav"))) == 2


def test_audio_with_non_finite_or_over_full_scale_samples_is_a_failed_row(tmp_path):
    # Codecs clip at full scale and the original is not clipped: the metrics would measure that.
    import json

    folder = tmp_path / "audio"
    folder.mkdir()
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    soundfile.write(folder / "tone.wav", tone, 16000, "FLOAT")
    for name, bad in (("nan.wav", np.nan), ("inf.wav", np.inf)):
        broken = tone.copy()
        broken[100:110] = bad
        soundfile.write(folder / name, broken, 16000, "FLOAT")
    soundfile.write(folder / "loud.wav", 3.9 * tone / 0.3, 16000, "FLOAT")
    soundfile.write(folder / "full.wav", tone / 0.3, 16000, "FLOAT")  # peak 1.0: ok
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["compress", str(folder), "--codec", "mp3:bitrate=32k", "--codec", "aac:bitrate=32k",
         "--codec", "opus:bitrate=24k", "--out", str(out), "--workers", "0", "--no-cache",
         "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = read_run(out)[1].to_pylist()
    assert len(rows) == 5 * 4
    for row in rows:
        if "loud" in row["item_id"]:
            assert row["status"] == "failed"
            assert "float samples reach 3.9, above full scale (1.0)" in row["error"]
        elif "tone" in row["item_id"] or "full" in row["item_id"]:
            assert row["status"] == "ok"
            rate = {"mp3": 32000, "aac": 16000}.get(row["codec"])  # the coding rates picked
            if rate is not None:
                assert json.loads(row["codec_params"])["sample_rate"] == rate
        else:
            assert row["status"] == "failed"
            assert "10 of 16000 samples are NaN or infinite" in row["error"]


def test_the_command_line_loads_no_heavy_library():
    # numpy, pyarrow, torch, matplotlib: loaded by the command that needs them, not by `mpq-audio`.
    assert heavy_imports_of("mpq.audio.cli") == []

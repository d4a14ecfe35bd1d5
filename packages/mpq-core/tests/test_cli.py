import json

import pytest
from click.testing import CliRunner

from mpq.core.cli import main
from mpq.core.store import RESULTS

SYN = "python:mpq.core.testing:SyntheticCodec"
TASK = "python:mpq.core.testing:SyntheticTask"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def finished_run(tmp_path):
    out = tmp_path / "run"
    result = run(
        "run", "--task", TASK, "--option", "items=12", "--option", "broken=2",
        "--codec", f"{SYN}:quality=5,60", "--codec", f"{SYN}:bpp=3",
        "--metric", "python:mpq.core.testing:MeanAbsoluteError",
        "--workers", "0", "--no-cache", "--no-progress", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def test_run_then_show_prints_aggregates_with_intervals(finished_run):
    result = run("show", finished_run)
    assert result.exit_code == 0, result.output
    assert "status complete" in result.output
    assert "accuracy" in result.output and "mae" in result.output
    assert "[" in result.output  # CIs are printed as [low, high]


def test_show_failed_lists_errors(finished_run):
    result = run("show", finished_run, "--failed", "--resamples", "0")
    assert "img00002" in result.output and "cannot identify image file" in result.output


def test_version_and_plugins():
    assert "mpq, version 0.1.0" in run("--version").output
    result = run("plugins")
    assert result.exit_code == 0
    assert "mpq.codecs" in result.output and "mpq.tasks" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--codec", "jpgg:quality=5"], "unknown codec 'jpgg'"),
        (["--codec", f"{SYN}:quality=101"], "out of range"),
        (["--codec", SYN, "--option", "nonsense=1"], "rejected its --option values"),
        (["--codec", SYN, "--option", "noequals"], "must be KEY=VALUE"),
        (["--codec", SYN, "--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_input_gives_one_clear_line(tmp_path, args, message):
    result = run("run", "--task", TASK, "--out", tmp_path / "r", "--no-progress", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_task(tmp_path):
    result = run("run", "--task", "classify", "--codec", SYN, "--out", tmp_path / "r")
    assert "unknown task 'classify'" in result.output


def test_show_refuses_damaged_runs(finished_run, tmp_path):
    assert "not an mpq run directory" in run("show", tmp_path).output
    part = next((finished_run / RESULTS).glob("part-*"))
    part.write_bytes(b"garbage")
    result = run("show", finished_run)
    assert result.exit_code != 0 and part.name in result.output


def test_show_refuses_newer_schema(finished_run):
    manifest = json.loads((finished_run / "manifest.json").read_text())
    manifest["schema_version"] = 2
    (finished_run / "manifest.json").write_text(json.dumps(manifest))
    assert "record schema version 2" in run("show", finished_run).output


def test_dry_run_reports_the_plan(tmp_path):
    result = run(
        "run", "--task", TASK, "--option", "items=3", "--codec", f"{SYN}:quality=5,9",
        "--dry-run", "--out", tmp_path / "r",
    )  # fmt: skip
    assert "Dry run: 3 items x 3 settings" in result.output
    assert "9 to compute" in result.output

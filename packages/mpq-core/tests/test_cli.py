import json

import click
import pytest
from click.testing import CliRunner

from mpq.core.cli import main
from mpq.core.errors import MpqError
from mpq.core.store import RESULTS, read_run
from mpq.core.testing import SyntheticTask, heavy_imports_of

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


def test_plugins_says_when_a_kind_has_none_installed(monkeypatch):
    from mpq.core import registry

    monkeypatch.setattr(registry.metrics, "info", lambda: [])
    result = run("plugins")
    assert result.exit_code == 0
    assert "No metrics are installed (entry point group mpq.metrics)" in result.output
    assert "metrics (entry point group" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--codec", "jpgg:quality=5"], "unknown codec 'jpgg'"),
        (["--codec", f"{SYN}:quality=101"], "out of range"),
        (["--codec", SYN, "--option", "nonsense=1"], "rejected its options"),
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
    manifest["schema_version"] = 99
    (finished_run / "manifest.json").write_text(json.dumps(manifest))
    assert "record schema version 99" in run("show", finished_run).output


def test_dry_run_reports_the_plan(tmp_path):
    result = run(
        "run", "--task", TASK, "--option", "items=3", "--codec", f"{SYN}:quality=5,9",
        "--dry-run", "--out", tmp_path / "r",
    )  # fmt: skip
    assert "Dry run: 3 items x 3 settings" in result.output
    assert "9 to compute" in result.output


class ModalityTask(SyntheticTask):
    """A task with the constructor every modality run command calls."""

    def __init__(self, model, dataset, split, trust_remote_code, **options):
        super().__init__(**options)
        self.seen = (model, dataset, split, trust_remote_code)


def test_a_modality_run_command_takes_presets_and_task_options(tmp_path, monkeypatch):
    from mpq.core import registry
    from mpq.core.cli import task_run_command

    monkeypatch.setitem(registry.tasks._registered, "modality-task", ModalityTask)
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "tiny.toml").write_text(
        'task = "modality-task"\nmodel = "m"\ndataset = "d"\n'
        f'codecs = ["{SYN}:quality=5"]\nout = "{tmp_path / "run"}"\n'
        'task_options = ["items=6", "broken=1"]\n'
    )
    command = task_run_command("image", folder, "x", datasets="any")
    args = ["--preset", "tiny", "--workers", "0", "--no-cache", "--no-progress"]
    result = CliRunner().invoke(command, [*args, "--option", "items=4"])
    assert result.exit_code == 0, result.output
    manifest, table = read_run(tmp_path / "run")
    assert manifest["presets"] == ["tiny"] and manifest["task_options"] == {"items": "4"}
    assert table.num_rows == 4 * 2
    result = CliRunner().invoke(command, ["--codec", SYN, "--out", str(tmp_path / "r2")])
    assert "give --model" in result.output


def test_key_values_and_make_task():
    from mpq.core.cli import key_values, make_task

    assert key_values(("a=1", "b=x=y")) == {"a": "1", "b": "x=y"}
    with pytest.raises(MpqError, match="KEY=VALUE"):
        key_values(("novalue",))
    task = make_task(TASK, items="3")
    assert task.count() == 3


def _stored_run(path, rows, **manifest):
    from mpq.core.records import SCHEMA_VERSION
    from mpq.core.store import RunStore, new_manifest

    with RunStore.open(path, new_manifest(task="t", codecs=["none", "c"], **manifest)) as store:
        store.write([{"schema_version": SCHEMA_VERSION, "status": "ok", **row} for row in rows])
        store.finish()


def _show_metric(path, name, values_of_c, values_of_d):
    """`mpq show` of a run whose settings c and d hold these values of metric `name`."""
    rows = [
        {"item_id": f"{setting}{n}", "setting": setting, "codec": setting, f"metric.{name}": v}
        for setting, values in (("c", values_of_c), ("d", values_of_d))
        for n, v in enumerate(values)
    ]
    _stored_run(path, rows, metrics={name: {}})
    return run("show", path, "--resamples", "0")


def test_show_reports_infinite_metric_values_as_a_count_not_a_mean(tmp_path):
    inf = float("inf")
    result = _show_metric(tmp_path / "run", "psnr", [inf, 30.0, 32.0, inf], [inf])
    assert result.exit_code == 0, result.output
    assert "31; inf (2 of 4 items)" in result.output
    assert "inf (1 of 1 items)" in result.output
    assert " inf [" not in result.output


def test_show_says_over_how_many_items_a_partly_undefined_metric_is_averaged(tmp_path):
    nan = float("nan")
    result = _show_metric(tmp_path / "run", "ms-ssim", [0.5, nan, 0.7, nan], [nan, nan])
    assert result.exit_code == 0, result.output
    assert "0.6 (2 of 4 items)" in result.output
    assert "undefined (0 of 2 items)" in result.output
    assert "nan" not in result.output


def test_show_marks_scores_undefined_for_items_without_reference(tmp_path):
    scores = {"wra": {"aggregator": "mean", "inputs": ["hit"], "label": "WRA"}}
    rows = [
        {"item_id": f"i{n}", "setting": "none", "codec": "none", "stat.hit": v}
        for n, v in enumerate([float("nan"), float("nan"), 1.0])
    ]
    rows += [
        {"item_id": f"i{n}", "setting": "c", "codec": "c", "stat.hit": float("nan")}
        for n in range(3)
    ]
    _stored_run(tmp_path / "run", rows, scores=scores, items_without_reference=2)
    result = run("show", tmp_path / "run", "--resamples", "0")
    assert result.exit_code == 0, result.output
    assert "1 (1 of 3 items; 2 items have no reference)" in result.output
    assert "undefined (0 of 3 items; 2 items have no reference)" in result.output


def test_disk_full_during_a_sweep_is_one_line_and_the_run_resumes(tmp_path, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    from mpq.core import sweep_writer

    out = tmp_path / "run"
    real, calls = pq.write_table, []

    def fills_up(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(pq, "write_table", fills_up)
    monkeypatch.setattr(sweep_writer, "PART_ROWS", 4)  # a part per model batch
    args = (
        "run", "--task", TASK, "--option", "items=12", "--codec", f"{SYN}:quality=5",
        "--batch-size", "4", "--workers", "0", "--no-cache", "--no-progress", "--out", out,
    )  # fmt: skip
    result = run(*args)
    assert result.exit_code == 1
    assert "No space left on device" in result.output
    assert "run the same command again to resume" in result.output
    assert "Traceback" not in result.output
    assert read_run(out)[1].num_rows == 8
    monkeypatch.undo()
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "16 rows written" in result.output and "8 already stored" in result.output


def test_the_command_line_loads_no_heavy_library():
    # numpy, pyarrow, torch, matplotlib: loaded by the command that needs them, not by `mpq`.
    assert heavy_imports_of("mpq.core.cli") == []


def test_codec_help_names_every_rate_unit_and_the_error_lists_them_plainly():
    from mpq.core.rate import RATE_UNITS_BY_MODALITY

    help_text = " ".join(run("run", "--help").output.split())
    for modality, units in RATE_UNITS_BY_MODALITY.items():
        for unit in units:
            assert unit in help_text, (modality, unit)
    result = run("run", "--task", TASK, "--codec", f"{SYN}:kbps=6", "--out", "unused")
    assert "is not a rate of image codecs; use bpp, bits, bytes." in result.output


@pytest.mark.parametrize(("terminal", "bar"), [({}, False), ({"FORCE_COLOR": "1"}, True)])
def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path, terminal, bar):
    # Written to a log file, a bar is one cramped frame at the end; the summary line says it all.
    args = ["run", "--task", TASK, "--codec", f"{SYN}:quality=5", "--workers", "0", "--no-cache"]
    result = CliRunner(env={"FORCE_COLOR": None, "TTY_COMPATIBLE": None, **terminal}).invoke(
        main, [*args, "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    output = click.unstyle(result.output)
    assert ("ETA" in output) == bar
    assert "rows written, 0 failed" in output

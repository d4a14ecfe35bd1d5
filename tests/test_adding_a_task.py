"""The README's "Adding" example works as written: a task with two typed parameters, registered
at run time (nothing installed), swept by `mpq run` with --option values."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from mpq.core import registry
from mpq.core.cli import main
from mpq.core.store import read_results

README = Path(__file__).resolve().parents[1] / "README.md"
CODEC = "python:mpq.core.testing:SyntheticCodec:quality=10,90"


def readme_task() -> type:
    block = re.search(
        r"```python\n(import numpy as np\n.*?class Threshold.*?)```", README.read_text(), re.S
    )
    namespace: dict = {}
    exec(compile(block.group(1), str(README), "exec"), namespace)
    return namespace["Threshold"]


def test_the_readme_task_runs_with_its_typed_options(tmp_path):
    task = readme_task()
    if "threshold" not in registry.tasks.names():
        registry.tasks.register("threshold", task)
    out = tmp_path / "run"
    args = ["run", "--task", "threshold", "--option", "level=100", "--option", "items=3"]
    args += ["--codec", CODEC, "--workers", "0", "--no-cache", "--no-progress", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    rows = read_results(out).to_pylist()
    assert len(rows) == 3 * 3 and {r["status"] for r in rows} == {"ok"}
    assert sorted({r["item_id"] for r in rows}) == ["000", "001", "002"]
    bad = CliRunner().invoke(main, [*args[:3], "--option", "level=300", *args[5:]])
    assert bad.exit_code != 0 and "level='300' is out of range" in bad.output
    typo = CliRunner().invoke(main, [*args[:3], "--option", "levle=3", *args[5:]])
    assert "Did you mean level" in typo.output

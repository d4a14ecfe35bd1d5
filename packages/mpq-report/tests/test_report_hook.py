"""`run --report` in the modality CLIs reaches mpq-report through its entry point, not an import."""

import pytest
from synthetic_runs import write_run

from mpq.core.cli import build_report


@pytest.mark.slow
def test_the_run_report_hook_builds_the_report(tmp_path, capsys):
    run = write_run(tmp_path / "run", {"jpeg": [(10, 0.2, 0.6, 25.0), (50, 0.6, 0.9, 33.0)]})
    build_report(run)
    assert (run / "report" / "summary.md").is_file()
    assert "Report:" in capsys.readouterr().err

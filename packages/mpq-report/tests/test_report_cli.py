from click.testing import CliRunner

from mpq.core.testing import heavy_imports_of
from mpq.report.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "mpq-report, version 0.1.0" in result.output


def test_the_command_line_loads_no_heavy_library():
    # numpy, pyarrow, torch, matplotlib: loaded by the command that needs them, not by `mpq-report`.
    assert heavy_imports_of("mpq.report.cli") == []

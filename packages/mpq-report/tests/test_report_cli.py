from click.testing import CliRunner

from mpq.report.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "mpq-report, version 0.1.0" in result.output

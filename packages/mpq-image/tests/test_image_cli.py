from click.testing import CliRunner

from mpq.core import registry
from mpq.core.testing import SyntheticCodec, heavy_imports_of
from mpq.image.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "mpq-image, version 0.1.0" in result.output


def test_codecs_lists_image_codecs_with_ranges(monkeypatch):
    monkeypatch.setitem(registry.codecs._registered, "syn", SyntheticCodec)
    result = CliRunner().invoke(main, ["codecs"])
    assert result.exit_code == 0
    assert "syn" in result.output
    assert "quality=1..100 default 50 (rate knob)" in result.output


def test_the_command_line_loads_no_heavy_library():
    # numpy, pyarrow, torch, matplotlib: loaded by the command that needs them, not by `mpq-image`.
    assert heavy_imports_of("mpq.image.cli") == []

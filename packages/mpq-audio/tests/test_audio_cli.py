from click.testing import CliRunner

from mpq.audio.cli import main
from mpq.core import registry
from mpq.core.testing import SyntheticCodec


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "mpq-audio, version 0.1.0" in result.output


def test_codecs_lists_only_audio_codecs(monkeypatch):
    monkeypatch.setitem(registry.codecs._registered, "syn", SyntheticCodec)
    result = CliRunner().invoke(main, ["codecs"])
    assert result.exit_code == 0
    assert "syn" not in result.output
    assert "No audio codecs are installed." in result.output

import click
import pytest
from click.testing import CliRunner

from mpq.core import presets
from mpq.core.errors import MpqError


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "base.toml").write_text(
        'model = "m1"\ncodecs = ["jpeg:quality=5"]\nout = "runs/x"\n'
    )
    (tmp_path / "paper.toml").write_text('codecs = ["webp:quality=0"]\n')
    (tmp_path / "bad.toml").write_text("model = \n")
    (tmp_path / "typo.toml").write_text('modle = "m"\n')
    return tmp_path


def invoke(folder, args):
    seen = {}

    @click.command()
    @click.option("--preset", "names", multiple=True)
    @click.option("--model", default=None)
    @click.option("--codec", "codecs", multiple=True)
    @click.option("--out", default=None)
    @click.pass_context
    def command(ctx, names, **options):
        seen.update(presets.apply(ctx, folder, names, options))

    result = CliRunner().invoke(command, args)
    return seen, result


def test_presets_fill_defaults_and_later_ones_win(folder):
    seen, _ = invoke(folder, ["--preset", "base", "--preset", "paper"])
    assert seen["model"] == "m1" and seen["codecs"] == ("webp:quality=0",)
    assert str(seen["out"]) == "runs/x"


def test_command_line_overrides_presets(folder):
    seen, _ = invoke(folder, ["--preset", "base", "--model", "m2", "--codec", "avif"])
    assert seen["model"] == "m2" and seen["codecs"] == ("avif",)


@pytest.mark.parametrize(
    ("name", "message"),
    [("nope", "unknown preset 'nope'; presets: bad, base, paper, typo"),
     ("bad", "not valid TOML"), ("typo", "sets unknown option 'modle'")],
)  # fmt: skip
def test_bad_presets(folder, name, message):
    _, result = invoke(folder, ["--preset", name])
    assert isinstance(result.exception, MpqError) and message in str(result.exception)


def test_preset_by_path(folder):
    assert presets.load(str(folder / "paper.toml"), folder / "elsewhere") == {
        "codecs": ["webp:quality=0"]
    }


def test_validate_refuses_a_preset_with_an_unknown_option_or_a_bad_split(tmp_path):
    @click.command()
    @click.option("--dataset")
    @click.option("--split")
    def run(dataset, split):
        """A stand-in run command."""

    (tmp_path / "good.toml").write_text('dataset = "beans:streaming=false"\nsplit = "test[:5]"\n')
    assert presets.validate(tmp_path, run) == ["good"]
    (tmp_path / "bad.toml").write_text('split = "test[::2]"\n')
    with pytest.raises(MpqError, match="NAME\\[START:STOP\\]"):
        presets.validate(tmp_path, run)
    (tmp_path / "bad.toml").write_text('modle = "x"\n')
    with pytest.raises(MpqError, match="unknown option"):
        presets.validate(tmp_path, run)

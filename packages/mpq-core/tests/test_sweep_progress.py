import io

from rich.console import Console

from mpq.core.sweep_progress import ProgressBar, slowest_stage


def test_the_slowest_stage_is_named_with_its_share():
    assert slowest_stage({"items and codec": 1.0, "model": 3.0, "metrics": 0.0}) == (
        "slowest: model (75%)"
    )
    assert slowest_stage({"model": 0.0}) == ""


def test_the_bar_shows_the_slowest_stage():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with ProgressBar("demo", 10, console) as bar:
        bar.advance(4)
        bar.stages({"items and codec": 2.0, "model": 0.5})
        bar.progress.refresh()
    assert "slowest: items and codec (80%)" in out.getvalue()

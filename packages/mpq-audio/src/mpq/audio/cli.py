"""The `mpq-audio` command: list codecs, compress audio, run audio tasks."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import click

from mpq.audio.compress import DecodedWriter, audio_file_items
from mpq.core import presets, registry
from mpq.core.cli import (
    build_report,
    codecs_command,
    friendly_errors,
    report_summary,
    sweep_config,
    sweep_options,
)
from mpq.core.engine import run_sweep
from mpq.core.errors import MpqError
from mpq.core.task import Task

PRESETS = Path(__file__).parent / "presets"


@click.group()
@click.version_option(importlib.metadata.version("mpq-audio"), prog_name="mpq-audio")
def main() -> None:
    """mpq for audio: compress, run tasks and measure similarity."""


main.add_command(codecs_command("audio"))


@main.command()
@click.argument(
    "inputs",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path),
    metavar="FILES_OR_FOLDERS...",
)
@click.option(
    "--save-decoded",
    is_flag=True,
    help="Also write every decoded item as float WAV under OUT/decoded/SETTING/.",
)
@sweep_options
@friendly_errors
def compress(inputs: tuple[Path, ...], save_decoded: bool, **options: Any) -> None:
    """Compress audio with codec settings; rows hold bytes, kbps and similarity metrics."""
    if not options["codecs"]:
        raise MpqError("give at least one --codec, e.g. --codec mp3:bitrate=8k,16k,32k.")
    config = sweep_config(options)
    if save_decoded:
        config.on_decoded = DecodedWriter(options["out"] / "decoded")
    report_summary(run_sweep(audio_file_items(list(inputs)), options["out"], config))


@main.command()
@click.option(
    "--preset",
    "preset_names",
    multiple=True,
    metavar="NAME",
    help=f"Defaults from a preset ({', '.join(presets.names(PRESETS))}) or a .toml"
    " file; repeatable, later ones win; any option given here overrides them.",
)
@click.option(
    "--task",
    default="speech-recognition",
    show_default=True,
    help="speech-recognition, source-separation, or python:module:Class.",
)
@click.option(
    "--model",
    default=None,
    help="Hub id, a local model directory or file, or python:module:factory.",
)
@click.option(
    "--dataset",
    default=None,
    help="Hub id[@config], audiofolder:PATH, a folder of audio, musdb:PATH, pocketsphinx.",
)
@click.option("--split", default="validation", show_default=True, help="Dataset split.")
@click.option(
    "--option",
    "task_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Further task arguments, e.g. backend=faster-whisper; repeatable.",
)
@click.option(
    "--trust-remote-code",
    is_flag=True,
    help="Allow a hub model or dataset to run its own code (off by default).",
)
@click.option(
    "--report/--no-report",
    default=False,
    help="Build the mpq-report report into OUT/report afterwards.",
)
@sweep_options
@click.pass_context
@friendly_errors
def run(ctx: click.Context, preset_names: tuple[str, ...], **options: Any) -> None:
    """Run an audio task on compressed and uncompressed items into a run directory.

    The uncompressed original of every item is always evaluated as the reference row.
    """
    options = presets.apply(ctx, PRESETS, preset_names, options)
    for required in ("model", "dataset"):
        if not options[required]:
            raise MpqError(f"give --{required} (or a --preset that sets it).")
    extra = {}
    for option in options["task_options"]:
        key, sep, value = option.partition("=")
        if not sep:
            raise MpqError(f"--option {option!r} must be KEY=VALUE.")
        extra[key] = value
    task_class = registry.tasks.get(options["task"])
    if not (isinstance(task_class, type) and issubclass(task_class, Task)):
        raise MpqError(f"{options['task']!r} is not a Task subclass.")
    try:
        task = task_class(
            model=options["model"],
            dataset=options["dataset"],
            split=options["split"],
            trust_remote_code=options["trust_remote_code"],
            **extra,
        )
    except TypeError as error:
        raise MpqError(f"task {options['task']!r} rejected an option: {error}") from error
    config = sweep_config(options, manifest={"presets": list(preset_names), "task_options": extra})
    summary = run_sweep(task, options["out"], config)
    if options["report"] and not summary.interrupted:
        build_report(options["out"])
    report_summary(summary)

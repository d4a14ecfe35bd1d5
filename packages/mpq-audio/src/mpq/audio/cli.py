"""The `mpq-audio` command: list codecs, compress audio, run audio tasks."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import click

from mpq.audio.compress import DecodedWriter, audio_file_items
from mpq.core.cli import (
    codecs_command,
    friendly_errors,
    report_summary,
    sweep_config,
    sweep_options,
    task_run_command,
)
from mpq.core.engine import run_sweep
from mpq.core.errors import MpqError

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


main.add_command(
    task_run_command(
        "audio",
        PRESETS,
        "speech-recognition",
        tasks="speech-recognition, source-separation",
        datasets="Hub id[@config], audiofolder:PATH, an audio folder, musdb:PATH, or pocketsphinx.",
    )
)

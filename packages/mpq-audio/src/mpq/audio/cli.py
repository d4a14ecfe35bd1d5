"""The `mpq-audio` command: list codecs, compress audio, run audio tasks."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import click

from mpq.audio.compress import DecodedWriter, audio_file_items
from mpq.core.cli import (
    codecs_command,
    compress_command,
    task_run_command,
)

PRESETS = Path(__file__).parent / "presets"


@click.group()
@click.version_option(importlib.metadata.version("mpq-audio"), prog_name="mpq-audio")
def main() -> None:
    """mpq for audio: compress, run tasks and measure similarity."""


main.add_command(codecs_command("audio"))


main.add_command(
    compress_command(
        audio_file_items, DecodedWriter, example="mp3:bitrate=8k,16k,32k", saved_as="float WAV"
    )
)

main.add_command(
    task_run_command(
        "audio",
        PRESETS,
        "speech-recognition",
        tasks="speech-recognition, source-separation",
        datasets="Hub id[@config][:revision=REF][:data_dir=DIR][:data_files=GLOB][:streaming=false]"
        "[:exclude=I,J], commonvoice:PATH, audiofolder:PATH, an audio folder, musdb:PATH, or"
        " pocketsphinx.",
    )
)

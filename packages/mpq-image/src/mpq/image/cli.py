"""The `mpq-image` command: list codecs, compress images, run image tasks."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import click

from mpq.core.cli import (
    codecs_command,
    compress_command,
    task_run_command,
)
from mpq.image.compress import LOAD_OPTIONS, DecodedWriter, image_file_items

PRESETS = Path(__file__).parent / "presets"


@click.group()
@click.version_option(importlib.metadata.version("mpq-image"), prog_name="mpq-image")
def main() -> None:
    """mpq for images: compress, run tasks and measure similarity."""


main.add_command(codecs_command("image"))


main.add_command(
    compress_command(
        image_file_items,
        DecodedWriter,
        example="jpeg:quality=5,10,25",
        saved_as="PNG",
        load_options=LOAD_OPTIONS,
    )
)

main.add_command(
    task_run_command(
        "image",
        PRESETS,
        "image-classification",
        tasks="image-classification, semantic-segmentation",
        datasets="Hub id[@config][:revision=REF][:data_dir=DIR][:data_files=GLOB][:streaming=false]"
        "[:exclude=I,J], imagefolder:PATH, a folder of images, or skimage[:MAX_SIDE].",
    )
)

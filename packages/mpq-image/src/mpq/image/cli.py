"""The `mpq-image` command: list codecs, compress images, run image tasks."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import click

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
from mpq.image.compress import DecodedWriter, image_file_items

PRESETS = Path(__file__).parent / "presets"


@click.group()
@click.version_option(importlib.metadata.version("mpq-image"), prog_name="mpq-image")
def main() -> None:
    """mpq for images: compress, run tasks and measure similarity."""


main.add_command(codecs_command("image"))


@main.command()
@click.argument(
    "inputs",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path),
    metavar="IMAGES_OR_FOLDERS...",
)
@click.option(
    "--save-decoded",
    is_flag=True,
    help="Also write every decoded image as PNG under OUT/decoded/SETTING/.",
)
@sweep_options
@friendly_errors
def compress(inputs: tuple[Path, ...], save_decoded: bool, **options: Any) -> None:
    """Compress images with codec settings; rows hold bytes, bpp and similarity metrics."""
    if not options["codecs"]:
        raise MpqError("give at least one --codec, e.g. --codec jpeg:quality=5,10,25.")
    config = sweep_config(options)
    if save_decoded:
        config.on_decoded = DecodedWriter(options["out"] / "decoded")
    report_summary(run_sweep(image_file_items(list(inputs)), options["out"], config))


main.add_command(
    task_run_command(
        "image",
        PRESETS,
        "image-classification",
        tasks="image-classification, semantic-segmentation",
        datasets="Hub id[@config], imagefolder:PATH, a folder of images, or skimage[:MAX_SIDE].",
    )
)

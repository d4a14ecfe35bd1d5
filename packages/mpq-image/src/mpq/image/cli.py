"""The `mpq-image` command: list codecs, compress images, run image tasks."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import click

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


@main.command()
@click.option(
    "--preset",
    "preset_names",
    multiple=True,
    metavar="NAME",
    help=f"Defaults from a preset ({', '.join(presets.names(PRESETS))}) or a .toml file;"
    " repeatable, later ones win; any option given here overrides them.",
)
@click.option(
    "--task",
    default="image-classification",
    show_default=True,
    help="image-classification, semantic-segmentation, or python:module:Class.",
)
@click.option(
    "--model",
    default=None,
    help="Hub id, a local directory saved with save_pretrained, or python:module:factory.",
)
@click.option(
    "--dataset",
    default=None,
    help="Hub id[@config], imagefolder:PATH, a folder of images, or skimage[:MAX_SIDE].",
)
@click.option("--split", default="validation", show_default=True, help="Dataset split.")
@click.option("--image-key", default=None, help="Image column of a hub dataset (default: found).")
@click.option("--label-key", default=None, help="Label column of a hub dataset (default: found).")
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
    """Run an image task on compressed and uncompressed items into a run directory.

    The uncompressed original of every item is always evaluated as the reference row.
    """
    options = presets.apply(ctx, PRESETS, preset_names, options)
    for required in ("model", "dataset"):
        if not options[required]:
            raise MpqError(f"give --{required} (or a --preset that sets it).")
    task_class = registry.tasks.get(options["task"])
    if not (isinstance(task_class, type) and issubclass(task_class, Task)):
        raise MpqError(f"{options['task']!r} is not a Task subclass.")
    task = task_class(
        model=options["model"],
        dataset=options["dataset"],
        split=options["split"],
        image_key=options["image_key"],
        label_key=options["label_key"],
        trust_remote_code=options["trust_remote_code"],
    )
    config = sweep_config(options, manifest={"presets": list(preset_names)})
    summary = run_sweep(task, options["out"], config)
    if options["report"] and not summary.interrupted:
        build_report(options["out"])
    report_summary(summary)

"""The `mpq-image` command."""

from __future__ import annotations

import importlib.metadata

import click

from mpq.core.cli import codecs_command


@click.group()
@click.version_option(importlib.metadata.version("mpq-image"), prog_name="mpq-image")
def main() -> None:
    """mpq for image: compress, run tasks and measure similarity."""


main.add_command(codecs_command("image"))

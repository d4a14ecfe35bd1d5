"""The `mpq-audio` command."""

from __future__ import annotations

import importlib.metadata

import click

from mpq.core.cli import codecs_command


@click.group()
@click.version_option(importlib.metadata.version("mpq-audio"), prog_name="mpq-audio")
def main() -> None:
    """mpq for audio: compress, run tasks and measure similarity."""


main.add_command(codecs_command("audio"))

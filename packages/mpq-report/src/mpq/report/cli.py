"""The `mpq-report` command."""

from __future__ import annotations

import importlib.metadata

import click


@click.group()
@click.version_option(importlib.metadata.version("mpq-report"), prog_name="mpq-report")
def main() -> None:
    """Turn mpq run directories into rate-performance plots, LaTeX tables and BD-rates."""

"""Presets: small TOML files of defaults for a `run` command, keyed like its options.

A preset only fills options the command line leaves at their defaults; several presets apply in
order (`--preset imagenet-vit --preset paper`), later ones overriding earlier ones. Each modality
package keeps its presets in a folder; a path ending in .toml names any file.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from mpq.core.errors import MpqError


def names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.toml"))


def load(name: str, folder: Path) -> dict[str, Any]:
    """A preset by name from `folder`, or a TOML file by path."""
    path = Path(name) if name.endswith(".toml") else folder / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(names(folder))
        raise MpqError(f"unknown preset {name!r}; presets: {known}, or a .toml path.")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise MpqError(f"preset {path} is not valid TOML: {error}") from error


def apply(
    ctx: click.Context, folder: Path, preset_names: tuple[str, ...], options: dict[str, Any]
) -> dict[str, Any]:
    """`options` with every option the user left at its default taken from the presets."""
    merged = dict(options)
    for name in preset_names:
        for key, value in load(name, folder).items():
            if key not in merged:
                raise MpqError(f"preset {name!r} sets unknown option {key!r}.")
            if ctx.get_parameter_source(key) in (ParameterSource.DEFAULT, None):
                merged[key] = tuple(value) if isinstance(value, list) else value
    if merged.get("out") is not None:
        merged["out"] = Path(merged["out"])
    return merged


def validate(folder: Path, command: click.Command) -> list[str]:
    """Parse every preset of `folder` for `command` without running anything; their names.

    Keys must be the command's options; codec specs, dataset specs and splits must parse.
    """
    from mpq.core.codec import parse_codec_spec
    from mpq.core.dataspec import parse_dataset_spec, parse_split

    options = {param.name for param in command.params}
    for name in names(folder):
        values = load(name, folder)
        unknown = sorted(set(values) - options)
        if unknown:
            raise MpqError(f"preset {name!r} sets unknown option(s) {', '.join(unknown)}.")
        for spec in values.get("codecs", []):
            parse_codec_spec(spec)
        if "dataset" in values:
            parse_dataset_spec(values["dataset"])
        if "split" in values:
            parse_split(values["split"])
    return names(folder)

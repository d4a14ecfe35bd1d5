"""Presets: small TOML files of defaults for `mpq-image run`, keyed like its options.

A preset only fills options the command line leaves at their defaults; several presets apply in
order (`--preset imagenet-vit --preset paper`), later ones overriding earlier ones.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from mpq.core.errors import MpqError

FOLDER = Path(__file__).parent


def names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.toml"))


def load(name: str) -> dict[str, Any]:
    """A preset by name, or a TOML file by path."""
    path = Path(name) if name.endswith(".toml") else FOLDER / f"{name}.toml"
    if not path.is_file():
        raise MpqError(f"unknown preset {name!r}; presets: {', '.join(names())}, or a .toml path.")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise MpqError(f"preset {path} is not valid TOML: {error}") from error

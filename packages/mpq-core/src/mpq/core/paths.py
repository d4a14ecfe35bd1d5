"""File names derived from dataset item ids and codec settings."""

from __future__ import annotations

import re


def safe_name(text: str) -> str:
    """A file name from an id: no separators, no '..', nothing hidden, never empty.

    Item ids come from datasets and must never choose where a decoded file lands.
    """
    name = re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("._")
    return name or "item"

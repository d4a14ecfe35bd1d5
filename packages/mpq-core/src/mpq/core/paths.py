"""File names derived from dataset item ids and codec settings, and mpq's default cache folder."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

MAX_STEM = 80
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mpq"


def safe_name(text: str) -> str:
    """A file name from an id: no separators, no '..', nothing hidden, never empty.

    Item ids come from datasets and must never choose where a decoded file lands.
    """
    name = re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("._")
    return name or "item"


def unique_name(text: str) -> str:
    """A readable file name that is unique per `text`: its safe name plus a short hash of it.

    Different ids can share a safe name ("a b" and "a_b", "ü" and "é"); the hash keeps them apart.
    """
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{safe_name(text)[:MAX_STEM]}-{digest}"


def decoded_file(root: Path, item_id: str, setting_id: str, suffix: str) -> Path:
    """Where a decoded item is saved: ROOT/<setting>/<item><suffix>, its folder created."""
    folder = root / unique_name(setting_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{unique_name(item_id)}{suffix}"

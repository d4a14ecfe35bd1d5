"""Model weights: published ones fetched from a URL, and seeded random ones for tests.

Every codec or metric whose weights live at a plain URL (CompressAI's zoo, MS-ILLM) loads them
here, so the error always names the URL, the exact cache file to place, and the local-file option.
Random weights are drawn under `seeded`, so every process builds the same model (and decodes what
another encoded) without touching the caller's random state. torch is imported only when asked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mpq.core.errors import MpqError


def state_dict_from_url(url: str, what: str, local_option: str) -> dict[str, Any]:
    """The state dict at `url` (cached by torch.hub; `weights_only`, nothing executed)."""
    import torch

    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", weights_only=True)
    except Exception as error:
        cache = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
        raise MpqError(
            f"{what}: cannot get the published weights from {url} ({type(error).__name__}:"
            f" {error}). Download that file to {cache}, or pass {local_option}."
        ) from error


@contextlib.contextmanager
def seeded(seed: int, devices: list[int] | None = None) -> Iterator[None]:
    """torch's random state seeded inside the block and restored after it (`devices` as in
    `torch.random.fork_rng`: None forks every CUDA device's state too)."""
    import torch

    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield

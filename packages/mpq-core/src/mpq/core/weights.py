"""Published model weights fetched from a URL into torch's hub cache, with a clear offline error.

Every codec or metric whose weights live at a plain URL (CompressAI's zoo, MS-ILLM) loads them
here, so the error always names the URL, the exact cache file to place, and the local-file option.
torch is imported only when weights are asked for.
"""

from __future__ import annotations

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

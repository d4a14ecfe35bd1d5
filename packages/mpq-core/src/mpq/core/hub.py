"""Fast, clear failure for Hugging Face hub ids when the hub cannot be reached.

Left alone, huggingface_hub retries an unreachable hub for tens of seconds per file before
transformers reports a generic error. Packages that load hub models ask once here (one request,
no retries), then load from the local cache only and explain how to work offline. huggingface_hub
is imported only when asked, so mpq-core does not depend on it.
"""

from __future__ import annotations

import os

HUB_PROBE_TIMEOUT_S = 10.0


def offline() -> bool:
    """Offline mode as huggingface_hub saw it at import, or as the environment says now."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return constants.is_offline_mode() or flag.strip().lower() in {"1", "on", "yes", "true"}


def unreachable(repo_id: str) -> str | None:
    """Why the hub cannot serve `repo_id` (offline mode, no answer), or None when it answers."""
    if offline():
        return "HF_HUB_OFFLINE is set"
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    try:
        get_hf_file_metadata(hf_hub_url(repo_id, "config.json"), timeout=HUB_PROBE_TIMEOUT_S)
    except HfHubHTTPError:
        return None  # the hub answered; the loader reports what it said
    except Exception as error:  # DNS, refused connection, timeout, proxy: no answer at all
        return f"{type(error).__name__}: {error}"
    return None

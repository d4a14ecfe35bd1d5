"""Fast, clear failure for Hugging Face hub ids when the hub cannot be reached.

Left alone, huggingface_hub retries an unreachable hub for tens of seconds per file before
transformers or datasets report a generic error. Loaders ask once here (one request, no
retries); when the hub does not answer they run in offline mode, so what is cached loads and what
is not fails at once, and the caller explains how to work offline. huggingface_hub (and datasets)
are imported only when asked, so mpq-core depends on neither.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mpq.core.errors import MpqError

HUB_PROBE_TIMEOUT_S = 5.0
# The file each kind of repo is probed with; a 404 still proves the hub answers.
PROBE_FILES = {"model": "config.json", "dataset": "README.md"}


def offline() -> bool:
    """Offline mode as huggingface_hub saw it at import, or as the environment says now."""
    from huggingface_hub import constants

    flag = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return constants.is_offline_mode() or flag.strip().lower() in {"1", "on", "yes", "true"}


def unreachable(repo_id: str, repo_type: str = "model") -> str | None:
    """Why the hub cannot serve `repo_id` (offline mode, no answer), or None when it answers."""
    if offline():
        return "HF_HUB_OFFLINE is set"
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import HfHubHTTPError

    url = hf_hub_url(repo_id, PROBE_FILES[repo_type], repo_type=repo_type)
    try:
        get_hf_file_metadata(url, timeout=HUB_PROBE_TIMEOUT_S)
    except HfHubHTTPError:
        return None  # the hub answered; the loader reports what it said
    except Exception as error:  # DNS, refused connection, timeout, proxy: no answer at all
        return f"{type(error).__name__}: {error}"
    return None


@contextlib.contextmanager
def fast_offline(repo_id: str, repo_type: str = "model") -> Iterator[str | None]:
    """Run a hub load in offline mode when the hub does not answer; yields why (or None)."""
    reason = unreachable(repo_id, repo_type)
    if reason is None:
        yield None
        return
    from huggingface_hub import constants

    modules = [constants, sys.modules.get("datasets.config")]
    saved = [(module, module.HF_HUB_OFFLINE) for module in modules if module is not None]
    for module, _ in saved:
        module.HF_HUB_OFFLINE = True
    try:
        yield reason
    finally:
        for module, value in saved:
            module.HF_HUB_OFFLINE = value


def offline_hint(unreachable: str | None, local: str) -> str:
    """What to do when a hub model is neither reachable nor cached ('' when the hub answered)."""
    if not unreachable:
        return ""
    return (
        f" It is not a local directory, the Hugging Face hub cannot be used ({unreachable}) and"
        " it is not in the local cache. Download it once where the hub is reachable (it is"
        f" cached; then HF_HUB_OFFLINE=1 uses the cache without network), or pass {local}."
    )


def looks_like_path(spec: str) -> bool:
    """Hub ids are NAME or OWNER/NAME; anything else names a local file or folder."""
    return spec.startswith(("/", ".", "~")) or spec.count("/") > 1 or spec.endswith("/")


def from_pretrained(
    auto_class: Any,
    spec: str,
    trust_remote_code: bool,
    directory_holds: str,
    **options: Any,
) -> Any:
    """`auto_class.from_pretrained(spec)` from a directory, the hub, or the cache when offline.

    `directory_holds` says what a model directory must hold, for the error when it does not.
    """
    options["trust_remote_code"] = trust_remote_code
    if looks_like_path(spec) and not Path(spec).is_dir():
        raise MpqError(
            f"model {spec!r}: no such directory. Give --model a directory saved with"
            " save_pretrained, or a hub id (OWNER/NAME)."
        )
    if Path(spec).is_dir():
        try:
            return auto_class.from_pretrained(spec, **options)
        except (OSError, ValueError) as error:
            raise MpqError(
                f"cannot load the model saved in {spec} ({type(error).__name__}: {error}). A model"
                f" directory holds {directory_holds}."
            ) from error
    with fast_offline(spec) as reason:
        try:
            return auto_class.from_pretrained(spec, local_files_only=bool(reason), **options)
        except (OSError, ValueError) as error:
            text = f"{type(error).__name__}: {error}"
            if "gated" in str(error).lower():
                raise MpqError(
                    f"model {spec!r} is gated: accept its terms at https://huggingface.co/{spec}"
                    " with your account, then log in here (`hf auth login`, or set HF_TOKEN to"
                    f" an access token). ({text})"
                ) from error
            raise MpqError(
                f"cannot load model {spec!r} ({text})."
                + offline_hint(reason, "--model PATH, a directory saved with save_pretrained")
            ) from error

"""Device choice, mixed precision and out-of-memory detection, with torch optional.

mpq-core does not require torch (the report reads runs without it); the modality packages do.
Without torch the only device is the CPU and mixed precision is off.
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator

from mpq.core.errors import MpqError

DEVICES = ("auto", "cpu", "cuda", "mps")


def _torch():
    """torch if the task has imported it: a task that never imports torch needs none of this."""
    return sys.modules.get("torch")


def seed_all(seed: int) -> None:
    """Seed Python, numpy and (if the task imported it) torch before the first batch."""
    import numpy as np  # here, not at the top: the command line reads DEVICES without numpy

    random.seed(seed)
    np.random.seed(seed)
    torch = _torch()
    if torch is not None:
        torch.manual_seed(seed)


# glibc's mallopt parameters: freed memory above the trim threshold goes back to the system,
# and blocks above the mmap threshold are mapped and unmapped on every allocation.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP_BYTES = 2**31 - 1


def keep_freed_memory() -> None:
    """Keep the memory a batch frees for the next batch, in this process (glibc only).

    By default glibc maps a block of more than 32 MB afresh for each allocation and unmaps it
    when it is freed, and returns freed memory at the top of the heap to the system, so a
    network's large activations are page-faulted and zeroed again on every batch: on the CPU,
    ST-LPIPS on 384 px images spent a third of its time in the kernel doing that (358 ms a pair
    against 225 ms with both limits raised). The process then keeps its peak size, as it needs
    it again at the next batch. Elsewhere (another C library, another system) nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, say)
        return
    for parameter in (_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD):
        mallopt(parameter, _KEEP_BYTES)


def resolve_device(requested: str) -> str:
    """'auto' -> cuda, then mps, then cpu; an explicit device must exist."""
    torch = _torch()
    kind = requested.split(":")[0]
    if kind not in DEVICES:
        raise MpqError(
            f"unknown device {requested!r}; use one of {', '.join(DEVICES)} (or cuda:N)."
        )
    cuda = torch is not None and torch.cuda.is_available()
    mps = torch is not None and torch.backends.mps.is_available()
    if kind == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (kind == "cuda" and not cuda) or (kind == "mps" and not mps):
        raise MpqError(f"device {requested!r} is not available here; use --device cpu or auto.")
    return requested


@contextlib.contextmanager
def autocast(device: str, enabled: bool) -> Iterator[None]:
    """bfloat16 autocast on CPU, float16 on CUDA/MPS, inference mode always (for torch tasks)."""
    torch = _torch()
    if torch is None:
        yield
        return
    kind = device.split(":")[0]
    dtype = torch.bfloat16 if kind == "cpu" else torch.float16
    with torch.inference_mode(), torch.autocast(kind, dtype=dtype, enabled=enabled):
        yield


def is_out_of_memory(error: BaseException) -> bool:
    torch = _torch()
    if torch is not None and isinstance(error, torch.cuda.OutOfMemoryError):
        return True
    if isinstance(error, MemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def release_memory(device: str) -> None:
    torch = _torch()
    if torch is None:
        return
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    elif device.startswith("mps"):
        torch.mps.empty_cache()

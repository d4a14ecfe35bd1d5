"""Interleaved timing shared by the benchmarks: rounds of A, B, ... run in turn, then medians.

Each round runs every contender once, in turn, so that a slow spell of a shared machine falls on
all of them rather than on whichever ran last. A comparison is the median over rounds of each
round's own ratio, printed with its min-max; every contender's time is printed the same way.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable

DEFAULT_ROUNDS = 5


def installed(module: str) -> bool:
    """Whether `module` can be imported here; a dotted name whose parent package is missing
    too (`mpq.image` without any mpq) is not installed, where find_spec would raise."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def timed(run: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def rounds(contenders: dict[str, Callable[[], object]], count: int) -> dict[str, list[float]]:
    """Seconds of each contender in each of `count` rounds; contenders run in turn per round."""
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(count):
        for name, run in contenders.items():
            seconds[name].append(timed(run))
    return seconds


def spread(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    """'median [min-max] unit' of a list of measurements."""
    low, mid, high = min(values) * scale, statistics.median(values) * scale, max(values) * scale
    return f"{mid:.3g}{' ' + unit if unit else ''} [{low:.3g}-{high:.3g}]"


def ratio(numerator: list[float], denominator: list[float]) -> list[float]:
    """Per-round ratios of two contenders' times."""
    return [a / b for a, b in zip(numerator, denominator, strict=True)]


def verdict(values: list[float], target: float, at_most: bool = True) -> str:
    """The median per-round ratio against its target."""
    mid = statistics.median(values)
    met = mid <= target if at_most else mid >= target
    sign = "<=" if at_most else ">="
    return f"{spread(values, unit='x')} (target {sign} {target:g}: {'met' if met else 'MISSED'})"


def print_times(seconds: dict[str, list[float]], unit: str = "s", scale: float = 1.0) -> None:
    for name, values in seconds.items():
        print(f"  {name:40s} {spread(values, unit, scale)}")

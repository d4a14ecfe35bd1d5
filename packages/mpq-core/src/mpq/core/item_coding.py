"""One item's settings coded in one place, the metrics that run beside the codec computed there.

An item crosses into a codec worker once, with every setting it needs there, instead of once per
setting; what comes back per setting is the codec result and the values of the metrics that run
beside the decode (`Metric.beside_codec`: cheap CPU metrics such as PSNR or SI-SDR). The decoded
item itself comes back only when the parent needs it (the model reads it, a deep metric runs on
it, or it is saved): shipping it is what costs most for fast codecs. The decoded item's shape is
checked here for the same reason, so a decoded item that never travels is still checked.
An unread file (`files.UnreadFile`) is read here too, hashed and looked up in the bitstream
cache: then nothing of its content crosses at all, and its reference setting only says whether
it could be read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mpq.core.cache import BitstreamCache
from mpq.core.codec import Codec, CodecResult, Setting, apply_setting, redecode
from mpq.core.errors import MpqError
from mpq.core.files import UnreadFile, load_error
from mpq.core.hashing import content_hash
from mpq.core.metric import METRIC_PREFIX, Metric


@dataclass
class Coded:
    """One setting's result (None for the reference: the item could be read); `cache_hit` says
    whether it came from the cache; `metrics` holds the `metric.<name>` columns computed beside
    it, `metric_errors` why any of them is NaN, `metric_s` the seconds they took."""

    result: CodecResult | None
    cache_hit: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    metric_errors: dict[str, str] = field(default_factory=dict)
    metric_s: float = 0.0


@dataclass(frozen=True)
class SettingWork:
    """A setting to code (or, with `cached`, a cached bitstream to decode again); a new result
    is stored under `cache_key` in the cache where it was coded, in parallel with the others.
    `codec` is None for the reference setting."""

    codec: type[Codec] | None
    setting: Setting
    cached: CodecResult | None = None
    cache_key: str | None = None


def code_item(
    data: Any,
    work: list[SettingWork],
    metrics: tuple[type[Metric], ...],
    keep_decoded: bool,
    cache_root: Path | None = None,
) -> list[Coded | str]:
    """Each setting's `Coded`, or its error text; runs in a worker process or in the caller's.

    The metrics run once over all of the item's decoded settings, so one that shares work between
    pairs of one reference (SSIM's local statistics of the original, say) does it once.
    A cache that cannot be written raises its RunStoreError: the sweep stops, its rows intact."""
    if isinstance(data, UnreadFile):
        try:
            data = data.read()
        except Exception as error:
            return [load_error(error)] * len(work)
        if cache_root is not None:
            work = looked_up(_cache(cache_root), content_hash(data), work)
    outcomes: list[Coded | str] = []
    decoded: list[Any] = []
    new_entries: list[tuple[str, CodecResult]] = []
    for entry in work:
        if entry.codec is None:
            outcomes.append(Coded(None))
            continue
        try:
            if entry.cached is None:
                result = apply_setting(entry.codec, entry.setting, data)
            elif entry.cached.decoded is None:
                result = redecode(entry.codec, entry.cached)
            else:
                result = entry.cached
        except Exception as error:
            outcomes.append(describe(error))
            continue
        wrong_shape = shape_error(entry.setting.codec, data, result.decoded)
        if wrong_shape is not None:
            outcomes.append(wrong_shape)
            continue
        kept = result if keep_decoded else replace(result, decoded=None)
        if entry.cache_key is not None and entry.cached is None:
            new_entries.append((entry.cache_key, kept))
        outcomes.append(Coded(kept, entry.cached is not None))
        decoded.append(result.decoded)
    if cache_root is not None and new_entries:
        _cache(cache_root).put_many(new_entries)  # the item's pack: one write for all
    columns = iter(beside(metrics, data, decoded))
    for outcome in outcomes:
        if isinstance(outcome, Coded) and outcome.result is not None:
            outcome.metrics, outcome.metric_errors, outcome.metric_s = next(columns)
    return outcomes


def looked_up(cache: BitstreamCache, item_hash: str, work: list[SettingWork]) -> list[SettingWork]:
    """`work` on one item with each setting's cache key and cached result, if any (the item's
    pack read once); wherever the item is hashed, in the parent or in the worker that reads it."""
    keys = [
        None
        if entry.codec is None
        else BitstreamCache.key(item_hash, entry.setting, entry.codec.version)
        for entry in work
    ]
    hits = cache.get_many([key for key in keys if key is not None])
    return [
        entry if key is None else replace(entry, cached=hits.get(key), cache_key=key)
        for entry, key in zip(work, keys, strict=True)
    ]


def beside(
    metrics: tuple[type[Metric], ...], reference: Any, decoded: list[Any]
) -> list[tuple[dict[str, float], dict[str, str], float]]:
    """For each decoded version of `reference`: the beside-codec metrics' columns, why any is
    NaN (undefined for it: too small, say), and its share of their seconds."""
    columns: list[tuple[dict[str, float], dict[str, str], float]] = [({}, {}, 0.0) for _ in decoded]
    if not decoded:
        return columns
    seconds = 0.0
    for cls in metrics:
        start = time.perf_counter()
        outcomes = pair_values(_instance(cls), [reference] * len(decoded), decoded)
        seconds += time.perf_counter() - start
        for (values, errors, _), (value, error) in zip(columns, outcomes, strict=True):
            values[f"{METRIC_PREFIX}{cls.name}"] = value
            if error is not None:
                errors[cls.name] = error
    share = seconds / len(decoded)
    return [(values, errors, share) for values, errors, _ in columns]


def pair_values(
    metric: Metric, references: list[Any], decoded: list[Any]
) -> list[tuple[float, str | None]]:
    """`metric` of each pair, computed together; where it refuses them together (an item too
    small for it, say), pair by pair, NaN and why for the pairs it is undefined for."""
    try:
        return [(float(value), None) for value in metric.compute(references, decoded)]
    except (MpqError, ValueError):
        return [one_value(metric, r, d) for r, d in zip(references, decoded, strict=True)]


def one_value(metric: Metric, reference: Any, decoded: Any) -> tuple[float, str | None]:
    """`metric` of one pair, or NaN and why where it is undefined for it (too small, say)."""
    try:
        return float(metric.compute([reference], [decoded])[0]), None
    except (MpqError, ValueError) as error:
        return float("nan"), str(error)


_metrics: dict[type[Metric], Metric] = {}
_caches: dict[Path, BitstreamCache] = {}


def _cache(root: Path) -> BitstreamCache:
    if root not in _caches:
        _caches[root] = BitstreamCache(root)
    return _caches[root]


def _instance(cls: type[Metric]) -> Metric:
    """One instance per metric per process, set up on the CPU (these metrics run there)."""
    if cls not in _metrics:
        metric = cls()
        metric.setup("cpu")
        _metrics[cls] = metric
    return _metrics[cls]


def shape_error(codec: str, original: Any, decoded: Any) -> str | None:
    """Why a decoded item cannot stand for its original (another shape), or None."""
    expected, got = np.shape(original), np.shape(decoded)
    if expected == got:
        return None
    return f"codec {codec!r} decoded shape {got}, original is {expected}"


def describe(error: BaseException) -> str:
    """An exception as a failed row's error text."""
    return f"{type(error).__name__}: {error}"

"""The codec interface, its parameter grid, and rate targeting.

A codec is one small class: its name, its parameters (with ranges), `encode` and `decode`. It
knows nothing about files, rows, batching or progress; the engine owns those. A sweep names codec
settings with a spec such as ``jpeg:quality=5,10,25:subsampling=420`` (the cartesian product of the
listed values) or asks for a rate instead of a knob value, ``webp:bpp=0.15``: the codec's rate knob
is then bisected per item to the closest rate not above the target.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from mpq.core import registry
from mpq.core.device import resolve_device
from mpq.core.errors import MpqError, ParameterError
from mpq.core.params import Param, coerce, find
from mpq.core.rate import RATE_UNITS, RATE_UNITS_BY_MODALITY, Bitstream

REFERENCE = "none"


class Codec(ABC):
    """Base class of every codec. Subclasses set the class attributes and two methods.

    `decode` must return an item of exactly the original's shape (crop padding, trim delay) and
    may use only the payload: whatever the decoder needs goes into the counted bytes.
    `version` is part of the bitstream cache key: bump it when the codec's output changes.
    """

    name: ClassVar[str]
    modality: ClassVar[str]
    version: ClassVar[str] = "1"
    parameters: ClassVar[tuple[Param, ...]] = ()
    description: ClassVar[str] = ""
    # Distributions whose versions change this codec's output (recorded in each run's manifest).
    libraries: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **values: Any) -> None:
        self.values = validate_values(type(self), values)

    def setup(self) -> None:
        """Load heavy state (model weights) once per process, outside the timed encode."""

    def values_for(self, data: Any) -> dict[str, Any]:
        """The parameter values `data` is coded with, as rows record them: a codec whose
        parameter has an automatic value (0: pick one) returns the value it picked."""
        return dict(self.values)

    @abstractmethod
    def encode(self, data: Any) -> Bitstream: ...

    @abstractmethod
    def decode(self, bitstream: Bitstream) -> Any: ...

    @classmethod
    def parameter(cls, name: str) -> Param:
        try:
            return find(cls.parameters, name, f"codec {cls.name!r}", RATE_UNITS)
        except ParameterError as error:
            units = ", ".join(RATE_UNITS_BY_MODALITY.get(cls.modality, RATE_UNITS))
            raise ParameterError(f"{error} Rate targets: {units}.") from None

    @classmethod
    def rate_knob(cls) -> Param | None:
        return next((p for p in cls.parameters if p.rate), None)

    # Batched coding. Every codec has the batch API; a codec that runs a model on batches sets
    # `batches` and overrides both methods, keeping each item's bytes those of `encode` alone.
    batches: ClassVar[bool] = False

    @property
    def device(self) -> str:
        """Where the codec computes: its `device` value resolved, cpu for codecs without one."""
        return codec_device(self.values.get("device", "cpu"), self.name)

    def encode_batch(self, items: list[Any]) -> list[Bitstream]:
        """One bitstream per item, in order, each identical to `encode(item)`."""
        return [self.encode(item) for item in items]

    def decode_batch(self, bitstreams: list[Bitstream]) -> list[Any]:
        """One decoded item per bitstream, in order, each identical to `decode(bitstream)`."""
        return [self.decode(bitstream) for bitstream in bitstreams]


def validate_values(cls: type[Codec], values: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, every given value parsed and range-checked."""
    checked = {p.name: p.default for p in cls.parameters}
    for name, raw in values.items():
        checked[name] = cls.parameter(name).parse(raw, cls.name)
    return checked


@dataclass(frozen=True)
class Target:
    unit: str
    value: float


@dataclass(frozen=True)
class Setting:
    """One point of a sweep: a codec, fixed parameter values, and optionally a rate target."""

    codec: str
    values: tuple[tuple[str, Any], ...] = ()
    target: Target | None = None

    @property
    def id(self) -> str:
        parts = [f"{k}={_text(v)}" for k, v in self.values]
        if self.target is not None:
            parts.append(f"{self.target.unit}={_text(self.target.value)}")
        return ":".join([self.codec, *parts])

    @property
    def is_reference(self) -> bool:
        return self.codec == REFERENCE


REFERENCE_SETTING = Setting(REFERENCE)


def parse_codec_spec(spec: str) -> list[Setting]:
    """``name[:param=v1,v2][:bpp=0.1,0.2]`` -> one Setting per combination, validated now.

    `name` is a registered codec or ``python:module:Class``.
    """
    parts = spec.split(":")
    if parts[0] == "python":
        if len(parts) < 3:
            raise ParameterError(f"codec spec {spec!r}: write 'python:module:Class[:k=v]'.")
        name, assignments = ":".join(parts[:3]), parts[3:]
    else:
        name, assignments = parts[0], parts[1:]
    cls = codec_class(name)
    fixed: list[list[tuple[str, Any]]] = []
    targets: list[Target] = []
    for assignment in assignments:
        key, sep, raw_values = assignment.partition("=")
        if not sep or not raw_values:
            raise ParameterError(
                f"codec spec {spec!r}: {assignment!r} must be 'name=value[,value]'."
            )
        raws = raw_values.split(",")
        if key in RATE_UNITS:
            targets += [_target(cls, key, raw, spec) for raw in raws]
        else:
            param = cls.parameter(key)
            fixed.append([(key, param.parse(raw, cls.name)) for raw in raws])
    combos = [tuple(c) for c in itertools.product(*fixed)]
    if not targets:
        return [Setting(name, combo) for combo in combos]
    return [Setting(name, combo, t) for combo in combos for t in targets]


def _target(cls: type[Codec], unit: str, raw: str, spec: str) -> Target:
    allowed = RATE_UNITS_BY_MODALITY.get(cls.modality, RATE_UNITS)
    if unit not in allowed:
        raise ParameterError(
            f"codec spec {spec!r}: {unit} is not a rate of {cls.modality} codecs; use"
            f" {', '.join(allowed)}."
        )
    if cls.rate_knob() is None:
        raise ParameterError(
            f"codec spec {spec!r}: codec {cls.name!r} has no monotone rate knob to target a rate."
        )
    value = coerce(raw, float, f"{cls.name}:{unit}")
    if value <= 0:
        raise ParameterError(f"codec spec {spec!r}: target {unit}={raw} must be > 0.")
    return Target(unit, value)


def codec_class(name: str) -> type[Codec]:
    cls = registry.codecs.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Codec)):
        raise ParameterError(f"{name!r} is not a Codec subclass (got {cls!r}).")
    return cls


class TargetUnreachable(MpqError):
    """No value of the rate knob gives a rate at or under the target for this item."""


@dataclass
class CodecResult:
    """What one codec setting produced for one item."""

    bitstream: Bitstream
    decoded: Any
    values: dict[str, Any]
    encode_s: float
    decode_s: float
    probes: int = 1


_instances: dict[tuple[type[Codec], tuple[tuple[str, Any], ...]], Codec] = {}


def codec_instance(cls: type[Codec], values: dict[str, Any]) -> Codec:
    """One instance per (codec, values) per process: heavy models load once, not per item."""
    key = (cls, tuple(sorted(values.items())))
    if key not in _instances:
        codec = cls(**values)
        codec.setup()
        _instances[key] = codec
    return _instances[key]


def apply_setting(cls: type[Codec], setting: Setting, data: Any) -> CodecResult:
    """Encode and decode `data` under `setting`, bisecting the rate knob if it has a target.

    Takes the class rather than its name so that worker processes need no registry lookup.
    """
    values = dict(setting.values)
    if setting.target is None:
        codec = codec_instance(cls, values)
        bitstream, encode_s = _timed(codec.encode, data)
        probes = 1
    else:
        codec, bitstream, encode_s, probes = _encode_at_target(cls, setting, values, data)
    decoded, decode_s = _timed(codec.decode, bitstream)
    return CodecResult(bitstream, decoded, codec.values_for(data), encode_s, decode_s, probes)


def _encode_at_target(
    cls: type[Codec], setting: Setting, values: dict[str, Any], data: Any
) -> tuple[Codec, Bitstream, float, int]:
    """Closest rate not above the target; assumes rate is monotone in the knob."""
    knob = cls.rate_knob()
    target = setting.target
    assert (
        knob is not None and target is not None and knob.low is not None and knob.high is not None
    )
    tried: dict[Any, tuple[Codec, Bitstream, float]] = {}

    def rate_at(x: Any) -> float:
        if x not in tried:
            codec = codec_instance(cls, {**values, knob.name: x})
            bitstream, seconds = _timed(codec.encode, data)
            tried[x] = (codec, bitstream, seconds)
        return tried[x][1].rate.unit_values[target.unit]

    lo, hi = knob.low, knob.high
    # Orient so that moving towards `cheap` lowers the rate.
    cheap, rich = (lo, hi) if knob.rate > 0 else (hi, lo)
    if rate_at(cheap) > target.value:
        raise TargetUnreachable(
            f"{setting.id}: even {knob.name}={cheap} gives {rate_at(cheap):.4g} {target.unit},"
            f" above the target {target.value:g}; lower the target or drop this setting."
        )
    if rate_at(rich) <= target.value:
        best = rich
    elif knob.type is int:
        best = _bisect_int(int(cheap), int(rich), lambda x: rate_at(x) <= target.value)
    else:
        best = _bisect_float(float(cheap), float(rich), lambda x: rate_at(x) <= target.value)
    codec, bitstream, _ = tried[best]
    total_encode = sum(seconds for _, _, seconds in tried.values())
    return codec, bitstream, total_encode, len(tried)


def _bisect_int(ok: int, bad: int, fits: Any) -> int:
    """Last value from `ok` towards `bad` that fits; `ok` fits and `bad` does not."""
    while abs(bad - ok) > 1:
        mid = (ok + bad) // 2
        if fits(mid):
            ok = mid
        else:
            bad = mid
    return ok


def _bisect_float(ok: float, bad: float, fits: Any, steps: int = 16) -> float:
    for _ in range(steps):
        mid = (ok + bad) / 2
        if fits(mid):
            ok = mid
        else:
            bad = mid
    return ok


def _timed(fn: Any, arg: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(arg)
    return out, time.perf_counter() - start


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def redecode(cls: type[Codec], result: CodecResult) -> CodecResult:
    """Decode a cached bitstream again (for decoded items the cache cannot hold)."""
    codec = codec_instance(cls, result.values)
    decoded, _ = _timed(codec.decode, result.bitstream)
    return CodecResult(
        result.bitstream, decoded, result.values, result.encode_s, result.decode_s, result.probes
    )


# Batched coding: the engine hands a batching codec many items of one setting at once.
CODEC_DEVICES = ("auto", "cpu", "cuda")


def codec_device(requested: str, codec: str) -> str:
    """A codec's `device` value as a torch device: `auto` is cuda when present, else cpu."""
    try:
        resolved = resolve_device(requested)
    except MpqError:
        raise ParameterError(
            f"{codec}: device={requested} is not available here; use device=cpu or device=auto."
        ) from None
    return resolved if requested != "auto" or resolved.startswith("cuda") else "cpu"


def batch_groups(keys: list[Any]) -> list[list[int]]:
    """Indices of equal keys (an item's shape), groups in first-seen order: one forward each."""
    groups: dict[Any, list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    return list(groups.values())


def apply_setting_batch(cls: type[Codec], setting: Setting, items: list[Any]) -> list[CodecResult]:
    """`apply_setting` for many items: one `encode_batch` and one `decode_batch` call.

    Codecs that do not batch, and rate targets (the knob is bisected per item), go item by item
    through `apply_setting`. A batch's encode_s and decode_s are its time divided by its size.
    """
    if not cls.batches or setting.target is not None:
        return [apply_setting(cls, setting, item) for item in items]
    codec = codec_instance(cls, dict(setting.values))
    bitstreams, encode_s = _timed(codec.encode_batch, list(items))
    decoded, decode_s = _timed(codec.decode_batch, bitstreams)
    count = max(len(items), 1)
    return [
        CodecResult(bitstream, out, codec.values_for(item), encode_s / count, decode_s / count)
        for item, bitstream, out in zip(items, bitstreams, decoded, strict=True)
    ]

"""Typed, validated parameters of plugins (codecs and tasks), and the one text-to-value parser.

Values arrive as text from a command line or a preset (`quality=5`, `bitrate=16k`,
`reduce_labels=true`) or as Python values from code; `Param.parse` turns either into the declared
type and checks it, naming the plugin, the parameter and the valid range on error. Numbers must
be finite (NaN passes every range check unnoticed). Booleans read true/false, yes/no, on/off,
1/0 everywhere in mpq (`parse_bool`).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mpq.core.errors import ParameterError

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"", "0", "false", "no", "off"})  # "": an empty value is unset
AUTO = frozenset({"", "auto", "none"})
_SUFFIXES = {"k": 1_000, "K": 1_000, "M": 1_000_000}


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, valid range or choices, and rate direction.

    `rate` (codecs) is +1 when a larger value gives more bits, -1 when it gives fewer, 0 when the
    parameter is not a rate knob; rate targeting bisects the codec's rate knob.
    """

    name: str
    type: type
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    rate: int = 0
    help: str = ""

    def parse(self, raw: Any, owner: str) -> Any:
        """Coerce `raw` (a value or its text) and check it, naming owner and range on error.

        A parameter whose default is None is optional: None, "" and "auto" leave it unset.
        """
        if self.default is None and (raw is None or str(raw).strip().lower() in AUTO):
            return None
        value = coerce(raw, self.type, f"{owner}:{self.name}")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(
                f"{owner}: {self.name}={raw!r} is not one of {list(self.choices)}."
            )
        too_low = self.low is not None and value < self.low
        too_high = self.high is not None and value > self.high
        if too_low or too_high:
            raise ParameterError(f"{owner}: {self.name}={raw!r} is out of range; {self.valid}.")
        return value

    @property
    def valid(self) -> str:
        if self.high is None:
            return f"use a value >= {self.low}"
        if self.low is None:
            return f"use a value <= {self.high}"
        return f"use a value in [{self.low}, {self.high}]"

    def describe(self) -> str:
        if self.choices is not None:
            valid = "|".join(str(c) for c in self.choices)
        elif self.low is not None and self.high is not None:
            valid = f"{self.low}..{self.high}"
        elif self.low is not None or self.high is not None:
            valid = f">={self.low}" if self.high is None else f"<={self.high}"
        else:
            valid = self.type.__name__
        knob = " (rate knob)" if self.rate else ""
        default = {None: "auto", "": "(none)"}.get(self.default, self.default)
        return f"{self.name}={valid} default {default}{knob}: {self.help}".rstrip(": ")


def find(parameters: Iterable[Param], name: str, owner: str, also: Iterable[str] = ()) -> Param:
    """The parameter called `name`, or an error with close names (`also`: other valid words)."""
    params = list(parameters)
    for param in params:
        if param.name == name:
            return param
    known = [p.name for p in params]
    close = difflib.get_close_matches(name, known + list(also), n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise ParameterError(
        f"{owner} has no parameter {name!r}.{hint} Its parameters: {', '.join(known) or 'none'}."
    )


def parse_bool(raw: Any, where: str) -> bool:
    """A boolean given as a bool or as text (true/false, yes/no, on/off, 1/0)."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ParameterError(f"{where} must be true or false, got {raw!r}.")


def coerce(raw: Any, kind: type, where: str) -> Any:
    """`raw` as `kind`: numbers finite and with k/M suffixes from text, booleans as words."""
    if kind is bool:
        return parse_bool(raw, where)
    if not isinstance(raw, str):
        if kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
            return _finite(float(raw), raw, where)
        if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
            return raw
        raw = str(raw)
    text = raw.strip()
    try:
        if kind in (int, float):
            scale = 1
            if text and text[-1] in _SUFFIXES:
                text, scale = text[:-1], _SUFFIXES[text[-1]]
            number = _finite(float(text) * scale, raw, where)
            if kind is int:
                if number != int(number):
                    raise ValueError(text)
                return int(number)
            return number
        return kind(text)
    except ParameterError:
        raise
    except ValueError:
        raise ParameterError(f"{where}: {raw!r} is not a valid {kind.__name__}.") from None


def _finite(number: float, raw: Any, where: str) -> float:
    if not math.isfinite(number):
        raise ParameterError(f"{where}: {raw!r} is not a finite number; give a number.")
    return number

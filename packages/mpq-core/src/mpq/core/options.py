"""Plugin constructor options that arrive as text from a command line or a preset."""

from __future__ import annotations

from mpq.core.errors import ParameterError

TRUE = {"1", "true", "yes", "on"}
FALSE = {"", "0", "false", "no", "off"}


def flag(value: bool | str, name: str) -> bool:
    """A boolean option given as a bool or as text (true/false, yes/no, on/off, 1/0)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ParameterError(f"{name} must be true or false, got {value!r}")

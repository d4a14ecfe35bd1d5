"""Plugin registries filled from entry points, so installing a package adds its plugins.

Groups: `mpq.codecs`, `mpq.tasks`, `mpq.metrics`. Entry points load lazily (listing plugins
imports nothing heavy). A user plugin is named by its Python path, `python:module:attribute`, or
registered at run time with `Registry.register`.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from mpq.core.errors import PluginConflictError, UnknownPluginError

T = TypeVar("T")

PYTHON_PREFIX = "python:"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    target: str


class Registry(Generic[T]):
    """Name -> plugin object, from one entry-point group plus run-time registrations."""

    def __init__(self, group: str, kind: str) -> None:
        self.group = group
        self.kind = kind
        self._registered: dict[str, T] = {}

    def _entry_points(self) -> dict[str, Any]:
        """Entry points by name; two distributions declaring one name are refused, named."""
        # Imported here: importlib.metadata costs ~50 ms, and a codec worker imports this module
        # (through the codec interface) without ever looking a plugin up.
        from importlib.metadata import entry_points

        found: dict[str, Any] = {}
        for ep in entry_points(group=self.group):
            other = found.setdefault(ep.name, ep)
            if other is not ep and _distribution(other) != _distribution(ep):
                raise PluginConflictError(
                    f"two installed packages provide the {self.kind} {ep.name!r}:"
                    f" {_distribution(other)} ({other.value}) and {_distribution(ep)}"
                    f" ({ep.value}); uninstall one of them."
                )
        return found

    def names(self) -> list[str]:
        return sorted(set(self._entry_points()) | set(self._registered))

    def info(self) -> list[PluginInfo]:
        """Every plugin with the distribution that brings it, without importing any."""
        rows = [
            PluginInfo(name, _distribution(ep), ep.value)
            for name, ep in self._entry_points().items()
        ]
        rows += [
            PluginInfo(name, "(registered at run time)", f"{obj!r}")
            for name, obj in self._registered.items()
        ]
        return sorted(rows, key=lambda row: row.name)

    def register(self, name: str, obj: T) -> T:
        """Add a plugin at run time; a name already taken by another plugin is refused."""
        taken = self._registered.get(name)
        if taken is not None and taken is not obj:
            raise PluginConflictError(
                f"the {self.kind} {name!r} is already registered ({taken!r}); pick another name."
            )
        entry = self._entry_points().get(name)
        if entry is not None:
            raise PluginConflictError(
                f"the {self.kind} {name!r} is provided by the installed package"
                f" {_distribution(entry)} ({entry.value}); register yours under another name."
            )
        self._registered[name] = obj
        return obj

    def get(self, name: str) -> T:
        """The plugin called `name`, or one named by `python:module:attribute`."""
        if name.startswith(PYTHON_PREFIX):
            return load_python_path(name[len(PYTHON_PREFIX) :], self.kind)
        if name in self._registered:
            return self._registered[name]
        found = self._entry_points().get(name)
        if found is None:
            raise UnknownPluginError(self._unknown_message(name))
        return found.load()

    def _unknown_message(self, name: str) -> str:
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        message = f"unknown {self.kind} {name!r}."
        if close:
            message += f" Did you mean {' or '.join(repr(c) for c in close)}?"
        message += f" Installed {self.kind}s: {', '.join(known) or 'none'}."
        message += (
            f" Install the package that provides it, or name your own as"
            f" '{PYTHON_PREFIX}module:attribute'."
        )
        return message


def _distribution(entry: Any) -> str:
    return entry.dist.name if entry.dist else "?"


def load_python_path(path: str, kind: str) -> Any:
    """Import `module:attribute` (attribute may be dotted)."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise UnknownPluginError(
            f"{kind} path {path!r} must look like 'module.sub:Attribute'"
            f" (written as '{PYTHON_PREFIX}module.sub:Attribute')."
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise UnknownPluginError(
            f"cannot import module {module_name!r} for {kind} {path!r}: {error}."
            " Check that it is installed or on PYTHONPATH."
        ) from error
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as error:
            raise UnknownPluginError(
                f"module {module_name!r} has no attribute {attribute!r} for {kind} {path!r}."
            ) from error
    return obj


codecs: Registry[Any] = Registry("mpq.codecs", "codec")
tasks: Registry[Any] = Registry("mpq.tasks", "task")
metrics: Registry[Any] = Registry("mpq.metrics", "metric")

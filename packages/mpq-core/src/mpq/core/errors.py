"""Errors a user can act on: each names the thing that is wrong and how to fix it.

The CLIs print these without a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MpqError(Exception):
    """Base class: `str(error)` is the whole message a user sees."""


class UnknownPluginError(MpqError, KeyError):
    """A codec, task or metric name that no installed package provides."""

    def __str__(self) -> str:
        return str(self.args[0])


class PluginConflictError(MpqError):
    """Two plugins under one name: which one runs would depend on the install order."""


class ParameterError(MpqError, ValueError):
    """A codec parameter that is unknown, of the wrong type or out of range."""


class RunStoreError(MpqError):
    """A run directory that cannot be read, written or resumed."""


class SchemaVersionError(RunStoreError):
    """Rows written by a version of mpq whose record schema this one does not read."""

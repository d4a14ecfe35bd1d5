"""The record schema (one row per run, task, item, codec setting) and the run manifest.

Fixed columns are typed below. Two families of columns vary with the task and metrics:
``stat.<name>`` holds a task's per-item sufficient statistics (float64, or list<float64> for
per-class vectors) and ``metric.<name>`` a similarity value (float64). The manifest says which
aggregator turns which statistics into each score, so reports need no modality package.

Bump SCHEMA_VERSION whenever a fixed column is added or changes meaning, type or name.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from mpq.core.metric import METRIC_PREFIX

SCHEMA_VERSION = 2
STAT_PREFIX = "stat."
KEY_COLUMNS = ("item_id", "setting")
STATUS_OK = "ok"
STATUS_FAILED = "failed"

FIXED_FIELDS = [
    pa.field("schema_version", pa.int32()),
    pa.field("run_id", pa.string()),
    pa.field("task", pa.string()),
    pa.field("dataset", pa.string()),
    pa.field("model", pa.string()),
    pa.field("item_id", pa.string()),
    pa.field("setting", pa.string()),  # codec spec of this point, e.g. "webp:bpp=0.15"
    pa.field("codec", pa.string()),  # "none" for the uncompressed reference row
    pa.field("codec_params", pa.string()),  # JSON of the values actually used
    pa.field("target_unit", pa.string()),
    pa.field("target_value", pa.float64()),
    pa.field("status", pa.string()),
    pa.field("error", pa.string()),
    pa.field("bytes", pa.int64()),
    pa.field("bits", pa.int64()),
    pa.field("bpp", pa.float64()),
    pa.field("kbps", pa.float64()),
    pa.field("height", pa.int64()),
    pa.field("width", pa.int64()),
    pa.field("pixels", pa.int64()),
    pa.field("samples", pa.int64()),
    pa.field("channels", pa.int64()),
    pa.field("sample_rate", pa.int64()),
    pa.field("encode_s", pa.float64()),
    pa.field("decode_s", pa.float64()),
    pa.field("predict_s", pa.float64()),
    pa.field("metric_s", pa.float64()),  # seconds this row's similarity metrics took
    pa.field("probes", pa.int64()),
    pa.field("cache_hit", pa.bool_()),
    pa.field("prediction", pa.string()),  # JSON of what the task keeps of the model output
]
FIXED_NAMES = [f.name for f in FIXED_FIELDS]

# Core's own libraries; each plugin declares the distributions whose versions change its numbers
# (its `libraries`), and a run records the union, as far as they are installed.
CORE_DISTRIBUTIONS = ("mpq-core", "numpy", "pyarrow")


def rows_to_table(rows: list[Mapping[str, Any]]) -> pa.Table:
    """Rows (dicts) -> a table with the fixed schema plus their stat/metric columns."""
    columns: dict[str, list[Any]] = {name: [row.get(name) for row in rows] for name in FIXED_NAMES}
    fields = list(FIXED_FIELDS)
    extra = sorted({k for row in rows for k in row if k not in columns})
    for name in extra:
        if not name.startswith((STAT_PREFIX, METRIC_PREFIX)):
            raise ValueError(f"row column {name!r} is neither fixed nor stat./metric.")
        values = [row.get(name) for row in rows]
        is_vector = any(v is not None and np.ndim(v) > 0 for v in values)
        if is_vector:
            values = [None if v is None else [float(x) for x in v] for v in values]
            kind = pa.list_(pa.float64())
        else:
            values = [None if v is None else float(v) for v in values]
            kind = pa.float64()
        fields.append(pa.field(name, kind))
        columns[name] = values
    schema = pa.schema(fields, metadata={b"mpq.schema_version": str(SCHEMA_VERSION).encode()})
    return pa.Table.from_arrays(
        [arrow_array(columns[f.name], f.type) for f in fields], schema=schema
    )


_OFFSET_MAX = int(np.iinfo(np.int32).max)
_INTEGER_TYPES = (pa.int32(), pa.int64())
# Per column type: the Python values it holds, the value that fills a null's slot and the numpy
# type of the values buffer.
_COLUMN_TYPES = {
    pa.string(): ((str,), "", None),
    pa.bool_(): ((bool, np.bool_), False, np.bool_),
    pa.int32(): ((int, np.integer), 0, np.int32),
    pa.int64(): ((int, np.integer), 0, np.int64),
    pa.float64(): ((float, int, np.floating, np.integer, np.bool_), 0.0, np.float64),
}


def arrow_array(values: list[Any], kind: pa.DataType) -> pa.Array:
    """`pa.array(values, kind)` for the schema's column types, built from buffers.

    pyarrow's `pa.array` first asks whether the values are a pandas object, which imports pandas
    (0.2 s, a tenth of a short sweep) in every process that writes rows; the buffers need numpy
    only. Values of another type are refused, a float or bool in an integer column too (pa.array
    would truncate 3.5 to 3).
    """
    n = len(values)
    present = np.array([v is not None for v in values], bool)
    validity = pa.py_buffer(np.packbits(present, bitorder="little"))
    if pa.types.is_list(kind):
        lengths = [0 if v is None else len(v) for v in values]
        child = arrow_array([x for v in values if v is not None for x in v], kind.value_type)
        return pa.Array.from_buffers(kind, n, [validity, _offsets(lengths)], children=[child])
    accepted, fill, numpy_type = _COLUMN_TYPES[kind]
    filled = [fill if v is None else _checked(v, accepted, kind) for v in values]
    if kind == pa.string():
        data = [v.encode() for v in filled]
        lengths = [len(d) for d in data]
        if sum(lengths) > _OFFSET_MAX:
            return pa.array(values, kind)  # over 2 GiB of text: pyarrow splits it into chunks
        return pa.Array.from_buffers(
            kind, n, [validity, _offsets(lengths), pa.py_buffer(b"".join(data))]
        )
    array = np.array(filled, numpy_type)
    if kind == pa.bool_():
        array = np.packbits(array, bitorder="little")
    return pa.Array.from_buffers(kind, n, [validity, pa.py_buffer(array)])


def _checked(value: Any, accepted: tuple[type, ...], kind: pa.DataType) -> Any:
    is_bool = isinstance(value, (bool, np.bool_))
    if not isinstance(value, accepted) or (is_bool and kind in _INTEGER_TYPES):
        raise TypeError(f"a {kind} record column cannot hold {value!r}")
    return value


def _offsets(lengths: list[int]) -> pa.Buffer:
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.py_buffer(offsets)


def params_json(values: Mapping[str, Any]) -> str:
    return json.dumps(dict(values), sort_keys=True, default=str)


def installed_versions(names: Iterable[str] = CORE_DISTRIBUTIONS) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def environment(libraries: Iterable[str] = ()) -> dict[str, Any]:
    """Python, platform, command line, and the versions of core's and the plugins' libraries."""
    names = dict.fromkeys([*CORE_DISTRIBUTIONS, *libraries])
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": installed_versions(names),
        "command": sys.argv,
    }

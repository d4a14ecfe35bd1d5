"""Load run directories, merge them into one table, and filter it.

Runs from different machines may overlap: a key (task, dataset, model, item, setting) stored by two
runs is kept once when both agree on its values and refused when they disagree, since a report
cannot know which one is right.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mpq.core.codec import REFERENCE, parse_codec_spec
from mpq.core.errors import MpqError
from mpq.core.records import METRIC_PREFIX, STAT_PREFIX, STATUS_OK
from mpq.core.store import STATUS_COMPLETE, STATUS_INTERRUPTED, read_run

IDENTITY = ("task", "dataset", "model", "item_id", "setting")
COMPARED = ("status", "bytes")
RATE_COLUMNS = ("bpp", "kbps")
SUFFIXES = {"k": 1_000, "K": 1_000, "M": 1_000_000}  # as core's codec parameter parser reads them


@dataclass
class Runs:
    manifests: dict[str, dict[str, Any]]  # run_id -> manifest
    table: pa.Table
    notes: list[str]


def load_runs(paths: Sequence[str | Path]) -> Runs:
    """Every row of every run, merged; warnings for incomplete runs go into `notes`."""
    if not paths:
        raise MpqError("give at least one run directory.")
    manifests: dict[str, dict[str, Any]] = {}
    tables, notes = [], []
    for path in paths:
        manifest, table = read_run(path)
        if table.num_rows == 0:
            raise MpqError(f"run {path} has no rows yet; wait for it or drop it from the report.")
        if manifest.get("status") != STATUS_COMPLETE:
            state = (
                "was interrupted"
                if manifest.get("status") == STATUS_INTERRUPTED
                else "is still running, or was killed"
            )
            note = (
                f"run {path} {state}: its numbers cover the {table.num_rows} rows stored so far;"
                " the command that made it, run again, completes it."
            )
            notes.append(note)
            warnings.warn(note, stacklevel=2)
        if manifest["run_id"] in manifests:
            raise MpqError(f"run {path} is given twice (run id {manifest['run_id']}).")
        manifests[manifest["run_id"]] = manifest
        tables.append(table)
    table = pa.concat_tables(tables, promote_options="default")
    if len(tables) > 1:
        table = _deduplicate(table)
    return Runs(manifests, table, notes)


def _deduplicate(table: pa.Table) -> pa.Table:
    """Keep one row per key; refuse keys whose runs disagree."""
    compared = [
        c for c in table.column_names if c in COMPARED or c.startswith((STAT_PREFIX, METRIC_PREFIX))
    ]
    compared = [c for c in compared if not pa.types.is_list(table.schema.field(c).type)]
    indexed = table.append_column("_row", pa.array(np.arange(table.num_rows)))
    grouped = indexed.group_by(list(IDENTITY), use_threads=False).aggregate(
        [("_row", "min"), ("_row", "count")] + [(c, "count_distinct") for c in compared]
    )
    repeated = grouped.filter(pc.greater(grouped.column("_row_count"), 1))
    for column in compared:
        distinct = repeated.column(f"{column}_count_distinct")
        bad = repeated.filter(pc.greater(distinct, 1))
        if bad.num_rows:
            row = bad.slice(0, 1).to_pylist()[0]
            key = " / ".join(str(row[k]) for k in IDENTITY)
            raise MpqError(
                f"runs disagree about {column} for {key} ({bad.num_rows} keys in all). Two runs of"
                " the same task, model and dataset must give the same values; report them apart"
                " or re-run one."
            )
    return table.take(grouped.column("_row_min").combine_chunks()).sort_by(
        [(k, "ascending") for k in IDENTITY]
    )


def filter_table(
    table: pa.Table,
    tasks: Sequence[str] = (),
    datasets: Sequence[str] = (),
    codecs: Sequence[str] = (),
) -> pa.Table:
    """Rows of the given tasks, datasets and codecs (empty: all). The reference always stays.

    A filter value that matches nothing is an error naming what the runs hold: a typo must not
    quietly drop a codec from a paper's table.
    """
    mask = pa.array(np.ones(table.num_rows, dtype=bool))
    for column, wanted in (("task", tasks), ("dataset", datasets), ("codec", codecs)):
        present = set(table.column(column).to_pylist()) - {REFERENCE}
        check_present(f"--{column}", wanted, present)
        if wanted:
            keep = [*wanted, REFERENCE] if column == "codec" else list(wanted)
            mask = pc.and_(mask, pc.is_in(table.column(column), pa.array(keep)))
    filtered = table.filter(mask)
    if filtered.num_rows == 0:
        raise MpqError(
            "no rows match the filters; tasks present: "
            f"{sorted(set(table.column('task').to_pylist()))}, codecs present:"
            f" {sorted(set(table.column('codec').to_pylist()) - {'none'})}."
        )
    return filtered


def check_present(option: str, wanted: Sequence[str], present: set[str]) -> None:
    """Refuse values of a filter option that name nothing in the runs, listing what exists."""
    missing = [w for w in wanted if w not in present]
    if missing:
        raise MpqError(
            f"{option} {', '.join(repr(m) for m in missing)} matches nothing in these runs;"
            f" they hold: {', '.join(sorted(present)) or 'none'}."
        )


def matching_settings(spec: str, settings: set[str]) -> list[str]:
    """The run settings a codec spec names: ``mp3:bitrate=16k`` matches ``mp3:bitrate=16000``.

    The spec is expanded by core's parser when its codec is installed (value lists, suffixes,
    defaults as the sweep saw them); otherwise each side's values are compared as numbers.
    """
    try:
        ids = [s.id for s in parse_codec_spec(spec)]
    except MpqError:
        ids = [spec]
    wanted = {_normalised(i) for i in ids}
    return sorted(s for s in settings if _normalised(s) in wanted)


def _normalised(setting: str) -> tuple[str, frozenset[tuple[str, Any]]]:
    codec, *params = setting.split(":")
    if codec == "python" and len(params) >= 2:
        codec, params = ":".join([codec, *params[:2]]), params[2:]
    pairs = []
    for param in params:
        key, _, value = param.partition("=")
        pairs.append((key, _number(value)))
    return codec, frozenset(pairs)


def _number(text: str) -> Any:
    scale = SUFFIXES.get(text[-1:], 1)
    try:
        return float(text[:-1] if scale != 1 else text) * scale
    except ValueError:
        return text


def against_reference(table: pa.Table) -> pa.Table:
    """Compressed rows (identity, status, error, prediction, rates) with the uncompressed row's
    prediction (`reference_prediction`) and `flip` (an ok row whose prediction differs from it):
    what the item browser and the example grid look for, by a join so that a million-row run
    stays fast."""
    keys = [k for k in ("task", "dataset", "model", "item_id") if k in table.column_names]
    ok = pc.equal(table.column("status"), STATUS_OK)
    reference = (
        table.filter(pc.and_(ok, pc.equal(table.column("setting"), REFERENCE)))
        .select([*keys, "prediction"])
        .rename_columns([*keys, "reference_prediction"])
    )
    wanted = [*keys, "setting", "status", "error", "prediction", *RATE_COLUMNS]
    compressed = table.filter(pc.not_equal(table.column("setting"), REFERENCE)).select(
        [c for c in wanted if c in table.column_names]
    )
    joined = compressed.join(reference, keys=keys, join_type="left outer", use_threads=False)
    differs = pc.fill_null(
        pc.not_equal(joined.column("prediction"), joined.column("reference_prediction")), False
    )
    flip = pc.and_(pc.equal(joined.column("status"), STATUS_OK), differs)
    return joined.append_column("flip", flip)

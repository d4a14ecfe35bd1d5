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

from mpq.core.errors import MpqError
from mpq.core.records import METRIC_PREFIX, STAT_PREFIX
from mpq.core.store import STATUS_COMPLETE, read_run

IDENTITY = ("task", "dataset", "model", "item_id", "setting")
COMPARED = ("status", "bytes")


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
            note = (
                f"run {path} is {manifest.get('status')} (interrupted or still going): its numbers"
                f" cover the {table.num_rows} rows stored so far."
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
    """Rows of the given tasks, datasets and codecs (empty: all). The reference always stays."""
    mask = pa.array(np.ones(table.num_rows, dtype=bool))
    for column, wanted in (("task", tasks), ("dataset", datasets)):
        if wanted:
            mask = pc.and_(mask, pc.is_in(table.column(column), pa.array(list(wanted))))
    if codecs:
        keep = pa.array([*codecs, "none"])
        mask = pc.and_(mask, pc.is_in(table.column("codec"), keep))
    filtered = table.filter(mask)
    if filtered.num_rows == 0:
        raise MpqError(
            "no rows match the filters; tasks present: "
            f"{sorted(set(table.column('task').to_pylist()))}, codecs present:"
            f" {sorted(set(table.column('codec').to_pylist()) - {'none'})}."
        )
    return filtered

"""Local replicas of hub dataset repos, for tests of the real `datasets.load_dataset` path.

A replica is a folder laid out like the repo at one revision: ``ROOT/REVISION/OWNER/NAME/...``
(``main`` when no revision is asked for) holding the same files, so datasets resolves configs,
data_dir, data_files and loading scripts exactly as it does on the hub. `replicas` routes
`datasets.load_dataset(REPO, revision=R, ...)` there and records every call's arguments, so a
test also checks that mpq asks the hub for what its real layout needs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def replicas(root: Path) -> Iterator[list[dict[str, Any]]]:
    """While open, `datasets.load_dataset` reads hub ids from the replicas under `root`."""
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    real = datasets.load_dataset
    calls: list[dict[str, Any]] = []

    def load_dataset(path: str, *args: Any, revision: str | None = None, **kwargs: Any) -> Any:
        calls.append({"path": path, "revision": revision, **kwargs})
        local = root / (revision or "main") / path
        if not local.is_dir():
            # What datasets says for a repo the hub does not have.
            raise DatasetNotFoundError(
                f"Dataset '{path}' doesn't exist on the Hub or cannot be accessed."
            )
        return real(str(local), *args, **kwargs)

    datasets.load_dataset = load_dataset
    try:
        yield calls
    finally:
        datasets.load_dataset = real


def write_parquet(path: Path, columns: dict[str, list[Any]], features: Any) -> Path:
    """One parquet file as the hub's converters write it (features in the schema metadata)."""
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(columns, features=features).to_parquet(str(path))
    return path

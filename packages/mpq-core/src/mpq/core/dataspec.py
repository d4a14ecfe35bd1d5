"""The `--dataset` and `--split` grammar every modality shares, and reading hub splits with it.

A dataset spec is ``SOURCE[:KEY=VALUE]...``. SOURCE is a Hugging Face hub id (``REPO`` or
``REPO@CONFIG``) or a local source of the modality (``imagefolder:PATH``, a folder, ...). For hub
ids the keys are what today's hub needs, passed to `datasets.load_dataset` as they are:

- ``config=NAME`` (the same as ``@NAME``): a configuration declared by the repo's README;
- ``revision=REF``: a branch, tag or commit, e.g. ``refs/convert/parquet``, the hub's parquet
  export of a repo that still holds a loading script (datasets >= 4 runs no scripts); that branch
  has no README, so its configurations are folders, chosen with ``data_dir``;
- ``data_dir=FOLDER``: a folder of the repo;
- ``data_files=PATTERN[,PATTERN...]``: files (globs, relative to the repo, or ``hf://datasets/...``)
  that make up the split named by ``--split``;
- ``streaming=true|false`` (default true): stream the split, so only the shards the sweep reads
  are downloaded (``--limit 1000`` on ImageNet's 6.4 GB validation split reads one shard);
  ``false`` downloads and caches the whole split first;
- ``exclude=I[,I...]``: leave out items by their index in the split.

A split is ``NAME`` or ``NAME[START:STOP]`` (Python slice bounds, no step). Items are numbered by
their index in the whole split, so a slice, an exclusion or ``--limit`` gives exactly the ids (and
rows) of a full run.

Values may hold ``:`` (``hf://...``): a ``:`` starts a new key only where ``KEY=`` follows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mpq.core import hub
from mpq.core.errors import MpqError

HUB_KEYS = ("config", "revision", "data_dir", "data_files", "streaming", "exclude")
_KEY_START = re.compile(r":(?=[a-z_]+=)")
_SPLIT = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)(?:\[(?P<start>-?\d*):(?P<stop>-?\d*)\])?$")
_SCRIPT = re.compile(r"Dataset scripts are no longer supported, but found (?P<file>\S+)")
# datasets' words for a missing split: downloaded, then streamed.
_UNKNOWN_SPLIT = re.compile(
    r"(?:Unknown split .*Should be one of|Bad split: .*Available splits:) (?P<known>\[.*\])"
)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed ``--dataset`` value: the source and its ``KEY=VALUE`` options."""

    source: str
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return ":".join([self.source, *(f"{k}={v}" for k, v in self.options.items())])

    def local(self, prefix: str) -> str | None:
        """The path after ``prefix:`` (``imagefolder:PATH``), or None for another source."""
        head, sep, rest = self.source.partition(":")
        return rest if sep and head == prefix else None

    @property
    def excluded(self) -> list[int]:
        """The item indices ``exclude=`` leaves out."""
        return _indices(self.options.get("exclude", ""), self)

    def refuse_options(self, kind: str, allowed: tuple[str, ...] = ()) -> None:
        """Local sources take no hub options (but those `allowed`); say so, never ignore them."""
        refused = [key for key in self.options if key not in allowed]
        if refused:
            raise MpqError(
                f"dataset {str(self)!r}: {', '.join(refused)} only apply to hub datasets,"
                f" not to {kind}."
            )


@dataclass(frozen=True)
class SplitSpec:
    """A parsed ``--split`` value: a split name and an optional slice of it."""

    name: str
    start: int = 0
    stop: int | None = None

    def __str__(self) -> str:
        if self.start == 0 and self.stop is None:
            return self.name
        return f"{self.name}[{self.start or ''}:{'' if self.stop is None else self.stop}]"

    def indices(self, count: int | None) -> range | None:
        """The split's item indices this slice keeps (None while the split's size is unknown)."""
        stop = self.stop
        if count is None:
            return None if stop is None else range(self.start, stop)
        return range(*slice(self.start, stop).indices(count))


def parse_dataset_spec(text: str) -> DatasetSpec:
    """``SOURCE[:KEY=VALUE]...`` (see the module docstring); keys are checked for hub ids."""
    text = str(text).strip()
    if not text:
        raise MpqError("the dataset spec is empty; give --dataset SOURCE[:KEY=VALUE]...")
    source, *pairs = _KEY_START.split(text)
    options: dict[str, str] = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key in options:
            raise MpqError(f"dataset {text!r}: {key} is given twice.")
        options[key] = value
    repo, at, config = source.partition("@")
    if at:
        if "config" in options:
            raise MpqError(f"dataset {text!r}: give the config once, as @CONFIG or config=.")
        options = {"config": config, **options}
        source = repo
    unknown = sorted(set(options) - set(HUB_KEYS))
    if unknown:
        raise MpqError(
            f"dataset {text!r}: unknown key(s) {', '.join(unknown)}; hub datasets take"
            f" {', '.join(HUB_KEYS)}."
        )
    spec = DatasetSpec(source, options)
    if "streaming" in options:
        _flag(options["streaming"], "streaming", spec)
    spec.excluded  # noqa: B018 - validates the indices now, not when the sweep reads them
    return spec


def parse_split(text: str) -> SplitSpec:
    """``NAME`` or ``NAME[START:STOP]``."""
    match = _SPLIT.match(str(text).strip())
    if match is None:
        raise MpqError(
            f"split {text!r}: write NAME or NAME[START:STOP], e.g. validation or validation[:1000]."
        )
    start, stop = match["start"] or "0", match["stop"]
    spec = SplitSpec(match["name"], int(start), int(stop) if stop else None)
    if spec.start < 0 or (spec.stop is not None and spec.stop < 0):
        raise MpqError(f"split {text!r}: slice bounds count from the start (no negative values).")
    return spec


class HubSplit:
    """One split of a hub dataset, read through `datasets.load_dataset` with the spec's options.

    Iterating yields ``(index, row)``: the row's index in the whole split and its columns.
    `local_forms` names the local sources a user can use instead (shown when the hub fails).
    """

    def __init__(
        self,
        spec: DatasetSpec,
        split: str,
        local_forms: str,
        trust_remote_code: bool = False,
    ) -> None:
        import datasets

        self.spec = spec
        self.split = parse_split(split)
        self.streaming = _flag(spec.options.get("streaming", "true"), "streaming", spec)
        self.excluded = frozenset(spec.excluded)
        kwargs = self.load_arguments()
        # Only asked for when wanted: recent datasets releases reject the argument.
        if trust_remote_code:
            kwargs["trust_remote_code"] = True
        with hub.fast_offline(spec.source, repo_type="dataset") as unreachable:
            try:
                self.data = datasets.load_dataset(spec.source, **kwargs)
            except Exception as error:
                raise MpqError(self._explain(error, unreachable, local_forms)) from error
        self.features = self.data.features
        if self.features is None:
            raise MpqError(
                f"dataset {str(spec)!r}: its split {self.split.name!r} declares no"
                " features; load it with streaming=false."
            )

    def load_arguments(self) -> dict[str, Any]:
        """The keyword arguments of `datasets.load_dataset` (besides the repo id)."""
        options = self.spec.options
        kwargs: dict[str, Any] = {"split": self.split.name, "streaming": self.streaming}
        if options.get("config"):
            kwargs["name"] = options["config"]
        for key in ("revision", "data_dir"):
            if options.get(key):
                kwargs[key] = options[key]
        if options.get("data_files"):
            patterns = [p for p in options["data_files"].split(",") if p]
            kwargs["data_files"] = {self.split.name: patterns}
        return kwargs

    def cast_column(self, column: str, feature: Any) -> None:
        self.data = self.data.cast_column(column, feature)
        self.features = self.data.features

    def count(self) -> int | None:
        """How many items the sweep will read (None when the hub does not say)."""
        total = len(self.data) if not self.streaming else self._declared_size()
        kept = self.split.indices(total)
        if kept is None:
            return None
        return len(kept) - sum(1 for i in self.excluded if i in kept)

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        start, stop = self.split.start, self.split.stop
        data = self.data
        if start and not self.streaming:
            data = data.select(range(min(start, len(data)), len(data)))
        elif start:
            data = data.skip(start)
        for index, row in enumerate(data, start):
            if stop is not None and index >= stop:
                return
            if index not in self.excluded:
                yield index, row

    def _declared_size(self) -> int | None:
        splits = getattr(self.data.info, "splits", None) or {}
        info = splits.get(self.split.name)
        return getattr(info, "num_examples", None) or None

    def _explain(self, error: Exception, unreachable: str | None, local_forms: str) -> str:
        """One message naming the cause and the fix, for the failures users meet today."""
        name, text = str(self.spec), f"{type(error).__name__}: {error}"
        repo, split = self.spec.source, self.split.name
        script = _SCRIPT.search(str(error))
        if script:
            return (
                f"dataset {repo!r} still holds a loading script ({script['file']}), which"
                " datasets >= 4 no longer runs. The hub's parquet export of it usually loads:"
                f" --dataset '{repo}:revision=refs/convert/parquet:data_dir=CONFIG' (there the"
                " configurations are folders; see"
                f" https://huggingface.co/datasets/{repo}/tree/refs%2Fconvert%2Fparquet)."
            )
        if "gated" in str(error).lower():
            return (
                f"dataset {repo!r} is gated: accept its terms at"
                f" https://huggingface.co/datasets/{repo} with your account, then log in here"
                f" (`hf auth login`, or set HF_TOKEN to an access token). ({text})"
            )
        unknown = _UNKNOWN_SPLIT.search(str(error))
        if unknown:
            return f"dataset {name!r} has no split {split!r}; it has {unknown['known']}."
        if "BuilderConfig" in str(error) or "config name is missing" in str(error).lower():
            return (
                f"dataset {name!r}: {error} On a parquet export (revision=refs/convert/parquet)"
                " a configuration is a folder: use data_dir=NAME instead of @NAME."
            )
        if isinstance(error, ConnectionError | FileNotFoundError) and unreachable:
            return (
                f"cannot load dataset {name!r}: the Hugging Face hub cannot be used"
                f" ({unreachable or text}) and the split is not in the local cache. Load it once"
                " where the hub is reachable with streaming=false (it is cached; then"
                f" HF_HUB_OFFLINE=1 reads the cache), or use a local copy: {local_forms}."
            )
        return f"cannot load dataset {name!r} split {split!r} ({text})."


def _flag(value: str, key: str, spec: DatasetSpec) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise MpqError(f"dataset {str(spec)!r}: {key} must be true or false, got {value!r}.")


def _indices(value: str, spec: DatasetSpec) -> list[int]:
    try:
        indices = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        indices = [-1]
    if any(i < 0 for i in indices):
        raise MpqError(
            f"dataset {str(spec)!r}: exclude must list item indices (0, 1, ...), got {value!r}."
        )
    return indices

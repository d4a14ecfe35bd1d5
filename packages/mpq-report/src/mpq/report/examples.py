"""What the codecs did to a few items: decoded crops (images) or log-mel spectrograms (audio).

The report stays free of modality packages: it finds the run's task and codecs through core's
registries (entry points of whatever is installed) and decodes again from core's bitstream cache
(key: item content hash + setting + codec version), or encodes again with the parameter values
the row recorded when the cache no longer holds the bitstream; a re-encoding whose size differs
from the row's is said in a note. Without the task's or a codec's package, the grid is left out
with a note naming what to install. A `compress` run has no task to load its files again (its
item ids are paths as given where it ran), so its grid is left out with a note pointing to
`--save-decoded`. Each panel shows the codec at its operating point of the paper table, its rate
and the model's prediction stored in the row; a source separator's estimates are not stored, so
for one the model runs again on the CPU and each stem gets a row.
"""

from __future__ import annotations

import inspect
import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mpq.core import registry
from mpq.core.cache import BitstreamCache
from mpq.core.codec import (
    REFERENCE,
    Setting,
    apply_setting,
    codec_class,
    parse_codec_spec,
    redecode,
)
from mpq.core.errors import MpqError
from mpq.core.files import FileItems
from mpq.core.hashing import content_hash
from mpq.core.records import STAT_PREFIX, STATUS_OK
from mpq.core.task import Task
from mpq.report.defaults import DEFAULT_COUNT
from mpq.report.load import against_reference
from mpq.report.matched import chosen_rate, columns_of
from mpq.report.points import Experiment, Point
from mpq.report.tables import column_labels, fmt_rate

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CROP = 128  # pixels of each image crop, shown 1:1 per panel
PANEL_INCHES = {"image": 1.15, "audio": 1.7}
RIGHT, WRONG = "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion, with a check or a cross
PREDICTION_KEYS = ("label", "normalized", "text", "raw", "class")
MELS, FFT, HOP = 64, 1024, 256
DYNAMIC_RANGE_DB = 80.0
DEFAULT_SAMPLE_RATE = 16000  # for a bare array whose rows record no rate
ID_WIDTH = 24  # characters of an item id above a panel (long ids keep their end)


@dataclass
class Panel:
    title: str
    data: Any  # an HxWxC image or a (channels, samples) signal
    prediction: str = ""
    correct: bool | None = None
    sample_rate: int | None = None  # of a signal that does not carry its own (a separated stem)


@dataclass
class Examples:
    experiment: Experiment
    modality: str
    rows: list[tuple[str, list[Panel]]] = field(default_factory=list)  # item id -> panels


def operating_points(experiment: Experiment, at_rate: dict[str, float]) -> dict[str, Point]:
    """Each codec's measured point nearest the paper table's common rate (its target if any)."""
    rate, _ = chosen_rate(experiment, at_rate)
    out = {}
    for curve in columns_of(experiment):
        points = [p for p in experiment.points if p.curve == curve]
        if rate is None:
            out[curve] = min(points, key=lambda p: p.rate)
            continue
        targeted = [p for p in points if p.is_target and math.isclose(p.target[1], rate)]
        out[curve] = (
            targeted[0] if targeted else min(points, key=lambda p: abs(math.log(p.rate / rate)))
        )
    return out


def flips_first(rows: pa.Table, settings: Sequence[str], count: int) -> list[str]:
    """Items whose prediction leaves the uncompressed one at the highest rate among `settings`."""
    compared = against_reference(rows)
    compared = compared.filter(pc.is_in(compared.column("setting"), pa.array(list(settings))))
    rate = pc.coalesce(
        *(compared.column(u).cast(pa.float64()) for u in ("bpp", "kbps") if u in rows.column_names)
    )
    flipped = compared.append_column("rate", rate).filter(compared.column("flip"))
    highest = flipped.group_by("item_id", use_threads=False).aggregate([("rate", "max")])
    ranked = sorted(
        zip(highest.column("item_id").to_pylist(), highest.column("rate_max").to_pylist(),
            strict=True),
        key=lambda pair: (-(pair[1] or 0.0), pair[0]),
    )  # fmt: skip
    ids = [item for item, _ in ranked]
    if len(ids) < count:
        ok = rows.filter(pc.equal(rows.column("status"), STATUS_OK))
        ids += sorted(set(ok.column("item_id").to_pylist()) - set(ids))
    return ids[:count]


def collect(
    experiment: Experiment,
    manifest: dict[str, Any],
    rows: pa.Table,
    wanted: Sequence[str],
    at_rate: dict[str, float],
    cache_dir: Path | None,
    count: int = DEFAULT_COUNT,
) -> tuple[Examples | None, list[str]]:
    """The panels of the chosen items, or None and the notes saying why not."""
    points = operating_points(experiment, at_rate)
    if not points:
        return None, []
    if wanted:
        known = set(rows.column("item_id").to_pylist())
        wanted = [w for w in wanted if w in known]
        if not wanted:
            return None, []  # the items asked for belong to another experiment
    try:
        task = _task(manifest)
        ids = list(wanted) or flips_first(rows, [p.setting for p in points.values()], count)
        originals = _originals(task, ids)
    except MpqError as error:
        return None, [f"{experiment.title}: no example grid ({error})"]
    chosen = rows.filter(pc.is_in(rows.column("item_id"), pa.array(ids)))
    by_key = {(r["item_id"], r["setting"]): r for r in chosen.to_pylist()}
    modality = str(manifest.get("modality", "image"))
    examples = Examples(experiment, modality)
    notes: list[str] = []
    labels = dict(zip(points, column_labels(list(points)), strict=True))
    set_up = False
    for item_id in ids:
        reference = by_key.get((item_id, REFERENCE), {})
        rates = (r.get("sample_rate") for (item, _), r in by_key.items() if item == item_id)
        rate = next((r for r in rates if r), None)
        panels = [Panel("original", originals[item_id], *_prediction(reference), rate)]
        for curve, point in points.items():
            row = by_key.get((item_id, point.setting))
            unit = experiment.rate_unit
            if row is None or row["status"] != STATUS_OK:
                mean = f"{fmt_rate(point.rate, unit)} {unit} (mean)"
                panels.append(Panel(f"{labels[curve]}\n{mean}", None, "failed"))
                continue
            try:
                decoded, note = _decoded(manifest, originals[item_id], row, cache_dir)
            except MpqError as error:
                return None, [f"{experiment.title}: no example grid ({error})"]
            if note:
                notes.append(note)
            item_rate = row.get("bpp") if row.get("bpp") is not None else row.get("kbps")
            title = f"{labels[curve]}\n{fmt_rate(item_rate, unit)} {unit}"
            panels.append(Panel(title, decoded, *_prediction(row), row.get("sample_rate")))
        if modality == "audio" and not any(p.prediction for p in panels if p.data is not None):
            stems, note = _stems(task, panels, set_up)
            set_up = set_up or stems is not None
            if note:
                notes.append(f"{experiment.title}: {note}")
            if stems is not None:
                examples.rows += _stem_rows(item_id, panels, stems)
                continue
        examples.rows.append((item_id, panels))
    return examples, notes


def _stems(task: Task, panels: list[Panel], set_up: bool) -> tuple[list | None, str]:
    """A separator's stems of each panel's signal: the run stores none, so the model runs here
    (on the CPU, once per item and codec); None when the task's predictions are not stems."""
    signals = [p.data for p in panels if p.data is not None]
    try:
        if not set_up:
            task.setup("cpu", False)
        outputs = task.predict(signals)
    except Exception as error:
        return None, f"separated stems not drawn ({type(error).__name__}: {error})"
    if not all(isinstance(o, dict) and o for o in outputs):
        return None, ""
    found = iter(outputs)
    return [next(found) if p.data is not None else None for p in panels], ""


def _stem_rows(
    item_id: str, panels: list[Panel], stems: list[dict | None]
) -> list[tuple[str, list[Panel]]]:
    """One grid row per stem: the model's estimate of it from each panel's mixture."""
    names = next(s for s in stems if s is not None)
    rows = []
    for i, name in enumerate(names):
        rows.append(
            (
                f"{item_id}: {name}",
                [
                    Panel(
                        p.title if i == 0 else "",
                        None if s is None else s.get(name),
                        sample_rate=getattr(p.data, "sample_rate", p.sample_rate),
                    )
                    for p, s in zip(panels, stems, strict=True)
                ],
            )
        )
    return rows


def _task(manifest: dict[str, Any]) -> Task:
    """The run's task, built from what its manifest recorded (task options and task config)."""
    name = manifest.get("task", "")
    if name == FileItems.name:
        # Its item ids are file paths as given where it ran (the manifest records no working
        # folder), its loader is the modality package's, and no row holds the file's content
        # hash: a file found again could not be told from another by the same name.
        raise MpqError(
            "a compress run keeps no task to load its files again; to see its decoded items, run"
            " compress with --save-decoded, which writes each one under the run's decoded/"
            " folder"
        )
    try:
        task_class = registry.tasks.get(name)
    except MpqError:
        raise MpqError(
            f"task {name!r} is not installed; install the package that provides it"
            " (mpq-image or mpq-audio) to see decoded items"
        ) from None
    # task_config is the task's own description: its scalar values under a constructor
    # argument's name are the arguments a modality CLI passed (model, dataset, split); summaries
    # (a dict describing a spelling map) are not arguments.
    accepted = set(inspect.signature(task_class).parameters)
    accepted |= {param.name for param in getattr(task_class, "parameters", ())}
    config = {
        k: v
        for k, v in manifest.get("task_config", {}).items()
        if k in accepted and (v is None or isinstance(v, str | int | float | bool))
    }
    # Runs made by a modality CLI record the exact arguments; older runs only the description.
    config = {**config, **manifest.get("task_args", {})}
    try:
        return task_class(**{**config, **manifest.get("task_options", {})})
    except Exception as error:
        raise MpqError(f"task {name!r} could not be rebuilt from the manifest: {error}") from error


def _originals(task: Task, ids: Sequence[str]) -> dict[str, Any]:
    wanted, found = set(ids), {}
    for item in task.items():
        if item.id in wanted and item.data is not None:
            found[item.id] = item.data
            if len(found) == len(wanted):
                break
    if len(found) < len(wanted):
        raise MpqError(f"the dataset no longer yields item(s) {sorted(wanted - set(found))}")
    return found


def _decoded(
    manifest: dict[str, Any], original: Any, row: dict[str, Any], cache_dir: Path | None
) -> tuple[Any, str]:
    """The decoded item: from the cache, else encoded again with the row's parameter values."""
    try:
        cls = codec_class(row["codec"])
    except MpqError:
        raise MpqError(f"codec {row['codec']!r} is not installed") from None
    values = json.loads(row["codec_params"] or "{}")
    version = manifest.get("codec_versions", {}).get(row["codec"], cls.version)
    recorded = manifest.get("cache_dir")  # where the run cached its bitstreams, when it did
    cache_dir = Path(recorded) if recorded and Path(recorded).is_dir() else cache_dir
    if cache_dir is not None:
        setting = next((s for s in _settings(row["setting"]) if s.id == row["setting"]), None)
        if setting is not None:
            key = BitstreamCache.key(content_hash(original), setting, version)
            cached = BitstreamCache(cache_dir).get(key)
            if cached is not None:
                if cached.decoded is None:
                    cached = redecode(cls, cached)
                return cached.decoded, ""
    result = apply_setting(cls, Setting(row["codec"], tuple(values.items())), original)
    note = ""
    if row.get("bytes") is not None and len(result.bitstream.payload) != row["bytes"]:
        note = (
            f"{row['item_id']} / {row['setting']}: encoded again for the example grid, the"
            f" bitstream has {len(result.bitstream.payload)} bytes, the run's {row['bytes']}"
            " (another codec library version?)"
        )
    return result.decoded, note


def _settings(setting: str) -> list[Setting]:
    try:
        return parse_codec_spec(setting)
    except MpqError:
        return []


def _prediction(row: dict[str, Any]) -> tuple[str, bool | None]:
    text = ""
    if row.get("prediction"):
        value = json.loads(row["prediction"])
        if isinstance(value, dict):
            value = next((value[k] for k in PREDICTION_KEYS if k in value), value)
        text = str(value)
    correct = row.get(f"{STAT_PREFIX}correct")
    known = correct is not None and not (isinstance(correct, float) and math.isnan(correct))
    return text, (bool(correct) if known else None)


def figure(examples: Examples) -> Figure:
    """Rows items, columns the original then each codec; prediction under each panel."""
    import matplotlib  # drawing only: collecting the examples needs no matplotlib
    from matplotlib.figure import Figure

    audio = examples.modality == "audio"
    columns = max(len(panels) for _, panels in examples.rows)
    size = PANEL_INCHES["audio" if audio else "image"]
    wrap = 26 if audio else 16
    with matplotlib.rc_context({"font.size": 6, "axes.titlesize": 6, "pdf.fonttype": 42}):
        fig = Figure(
            figsize=(size * columns, (size * (0.75 if audio else 1) + 0.55) * len(examples.rows)),
            layout="constrained",
        )
        axes = np.atleast_2d(fig.subplots(len(examples.rows), columns, squeeze=False))
        for r, (item_id, panels) in enumerate(examples.rows):
            # One dB scale per item, from its original: a codec's lost energy shows as dark.
            top = float(_log_mel(panels[0].data, panels[0].sample_rate).max()) if audio else 0.0
            for c, panel in enumerate(panels):
                ax = axes[r, c]
                ax.set_xticks([])
                ax.set_yticks([])
                if panel.data is not None:
                    if audio:
                        ax.imshow(
                            _log_mel(panel.data, panel.sample_rate), origin="lower",
                            aspect="auto", cmap="magma", vmin=top - DYNAMIC_RANGE_DB, vmax=top,
                        )  # fmt: skip
                    else:
                        ax.imshow(_crop(panel.data), interpolation="nearest")
                name = item_id if len(item_id) <= ID_WIDTH else f"...{item_id[3 - ID_WIDTH :]}"
                ax.set_title(f"{name}\n{panel.title}" if c == 0 else panel.title)
                mark = {True: "\u2713 ", False: "\u2717 ", None: ""}[panel.correct]
                text = textwrap.shorten(mark + panel.prediction, 3 * wrap, placeholder="...")
                colour = {True: RIGHT, False: WRONG, None: "black"}[panel.correct]
                ax.set_xlabel(textwrap.fill(text, wrap), color=colour)
            for c in range(len(panels), columns):
                axes[r, c].axis("off")
    return fig


def _crop(image: np.ndarray) -> np.ndarray:
    """The central CROP x CROP pixels (or the whole image if smaller), unscaled."""
    h, w = image.shape[:2]
    top, left = max(0, (h - CROP) // 2), max(0, (w - CROP) // 2)
    crop = image[top : top + CROP, left : left + CROP]
    return crop[..., 0] if crop.ndim == 3 and crop.shape[2] == 1 else crop


def _log_mel(signal: Any, sample_rate: int | None = None) -> np.ndarray:
    """dB log-mel spectrogram (HTK mel scale) of the channel mean of a signal."""
    samples = np.asarray(getattr(signal, "samples", signal), dtype=np.float64)
    rate = int(getattr(signal, "sample_rate", sample_rate or DEFAULT_SAMPLE_RATE))
    mono = samples.mean(axis=0) if samples.ndim == 2 else samples
    mono = np.pad(mono, (0, max(0, FFT - len(mono))))
    frames = np.lib.stride_tricks.sliding_window_view(mono, FFT)[::HOP] * np.hanning(FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    hz = np.fft.rfftfreq(FFT, 1.0 / rate)
    mel = 2595.0 * np.log10(1.0 + hz / 700.0)
    edges = np.linspace(0.0, mel[-1], MELS + 2)
    bank = np.maximum(
        0.0,
        np.minimum(
            (mel[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None]),
            (edges[2:, None] - mel[None, :]) / (edges[2:, None] - edges[1:-1, None]),
        ),
    )
    return 10.0 * np.log10(bank @ power.T + 1e-10)

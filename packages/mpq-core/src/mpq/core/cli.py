"""The `mpq` command, and the sweep options every modality CLI shares.

`mpq plugins` lists what the installed packages provide, `mpq show RUN_DIR` summarises a run,
`mpq run --task NAME` sweeps any task plugin (the modality CLIs add presets on top).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mpq.core import presets
from mpq.core.device import DEVICES
from mpq.core.errors import MpqError
from mpq.core.paths import DEFAULT_CACHE_DIR

if TYPE_CHECKING:
    from mpq.core.aggregate import Aggregate
    from mpq.core.engine import SweepConfig, SweepSummary
    from mpq.core.files import FileItems
    from mpq.core.task import Task

# The command line loads in a few times the interpreter's own start-up: the engine, the store,
# numpy, pyarrow, rich and the plugin registry are imported by the commands that use them.

EXIT_INTERRUPTED = 130


def sweep_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that runs a sweep; pass them to `sweep_config`."""
    options = [
        click.option(
            "--codec",
            "codecs",
            multiple=True,
            metavar="SPEC",
            help="Codec setting(s), repeatable: NAME[:PARAM=V1,V2...][:UNIT=T], e.g."
            " 'jpeg:quality=5,10' or 'mp3:bitrate=16000' (codec parameters), 'webp:bpp=0.15'"
            " or 'opus:kbps=6' (a rate target: the codec's rate knob is searched per item for"
            " the closest rate not above T; UNIT is bpp, bits or bytes for images, kbps,"
            " bits_per_sample, bits or bytes for audio). Own codecs:"
            " 'python:module:Class:quality=3'.",
        ),
        click.option(
            "--metric",
            "metrics",
            multiple=True,
            metavar="NAME",
            help="Full-reference similarity metric(s) vs the original, repeatable; `mpq"
            " plugins` lists them.",
        ),
        click.option(
            "--out",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Run directory (required; a preset may name it); it holds one experiment."
            " If it holds this experiment already, the sweep resumes and skips stored rows; the"
            " resume may add --codec settings and change workers, batch size, device or cache."
            " Another task, task option, model, dataset, split, --metric set or --limit is"
            " refused: give such a run a new --out.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=0),
            default=None,
            help="Codec worker processes (0: encode in this process, no overlap). Default: one per"
            " usable core, no more than items, none for one item or on a single core; local"
            " backend only: on Ray every CPU of the cluster codes.",
        ),
        click.option(
            "--backend",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help="Where the sweep runs: this machine, or a Ray cluster (pip install"
            " 'mpq-core[ray]'); either backend resumes a run the other wrote.",
        ),
        click.option(
            "--ray-address",
            metavar="HOST:PORT",
            default=None,
            help="With --backend ray: the cluster's head (HOST:6379, or 'auto' for one started"
            " with `ray start` on this machine); default: start Ray on this machine. The run"
            " directory and --cache-dir must be on storage every node sees.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=16,
            show_default=True,
            help="Model batch size; halved automatically on out-of-memory.",
        ),
        click.option(
            "--device",
            type=str,
            default="auto",
            show_default=True,
            help=f"Model device: {', '.join(DEVICES)} or cuda:N; auto picks cuda, mps, then cpu.",
        ),
        click.option(
            "--amp/--no-amp",
            default=False,
            show_default=True,
            help="Automatic mixed precision for the model (float16 on GPU, bfloat16 on CPU).",
        ),
        click.option(
            "--limit",
            type=click.IntRange(min=1),
            default=None,
            help="Use only the first N items (of the dataset, or of the files given).",
        ),
        click.option(
            "--seed", type=int, default=0, show_default=True, help="Seed for models and bootstrap."
        ),
        click.option(
            "--cache-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=DEFAULT_CACHE_DIR,
            show_default=True,
            help="Bitstream cache: a re-run with another model or metric does not re-encode.",
        ),
        click.option(
            "--no-cache", is_flag=True, help="Neither read nor write the bitstream cache."
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Print what would be computed; write nothing, load no model.",
        ),
        click.option("--no-progress", is_flag=True, help="Hide the progress bar."),
    ]
    return functools.reduce(lambda cmd, option: option(cmd), reversed(options), command)


def sweep_config(
    options: dict[str, Any],
    manifest: dict[str, Any] | None = None,
    on_decoded: Callable[[str, str, Any], None] | None = None,
) -> SweepConfig:
    """Turn `sweep_options` values into a SweepConfig (codec specs parsed and validated now)."""
    from mpq.core.codec import parse_codec_spec
    from mpq.core.engine import SweepConfig

    if options["out"] is None:
        raise MpqError("give --out DIR: the run directory to write (or resume).")
    settings = [s for spec in options["codecs"] for s in parse_codec_spec(spec)]
    return SweepConfig(
        settings=settings,
        metrics=list(options["metrics"]),
        workers=options["workers"],
        batch_size=options["batch_size"],
        device=options["device"],
        amp=options["amp"],
        limit=options["limit"],
        seed=options["seed"],
        cache_dir=None if options["no_cache"] else options["cache_dir"],
        progress=not options["no_progress"],
        dry_run=options["dry_run"],
        manifest=manifest or {},
        on_decoded=on_decoded,
        backend=options["backend"],
        ray_address=options["ray_address"],
    )


def report_summary(summary: SweepSummary) -> None:
    """Print the outcome of a sweep and exit 130 if it was interrupted."""
    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)
    console.print(
        f"{summary.written} rows written, {summary.failed} failed, {summary.skipped} already"
        f" stored, in {summary.seconds:.1f} s -> {summary.path}"
    )
    if summary.failed:
        console.print(f"Failed rows keep their error text: mpq show {summary.path} --failed")
    if summary.interrupted:
        sys.exit(EXIT_INTERRUPTED)


def codecs_command(modality: str) -> click.Command:
    """A `codecs` command listing the installed codecs of one modality with their parameters."""

    @click.command("codecs")
    def codecs() -> None:
        """List the installed codecs, their parameters, ranges and defaults."""
        from rich.console import Console

        from mpq.core import registry

        console = Console()
        found = False
        for info in registry.codecs.info():
            cls = registry.codecs.get(info.name)
            if getattr(cls, "modality", None) != modality:
                continue
            found = True
            console.print(f"[bold]{info.name}[/] ({info.distribution}) {cls.description}")
            for param in cls.parameters:
                console.print(f"    {param.describe()}")
        if not found:
            console.print(f"No {modality} codecs are installed.")

    return codecs


def compress_command(
    file_items: Callable[..., FileItems],
    decoded_writer: Callable[[Path], Callable[[str, str, Any], None]],
    example: str,
    saved_as: str,
    load_options: tuple[Callable[..., Any], ...] = (),
) -> click.Command:
    """The `compress` command of a modality CLI: files through codecs, no model.

    `load_options` are click options of the modality's file loader; their values are passed to
    `file_items` as keyword arguments.
    """

    @click.command("compress")
    @click.argument(
        "inputs",
        nargs=-1,
        required=True,
        type=click.Path(path_type=Path),
        metavar="FILES_OR_FOLDERS...",
    )
    @click.option(
        "--save-decoded",
        is_flag=True,
        help=f"Also write every decoded item as {saved_as} under OUT/decoded/SETTING/ (names:"
        " the sanitised id plus a short hash of the exact id, so no two items share a file).",
    )
    @sweep_options
    @friendly_errors
    def compress(inputs: tuple[Path, ...], save_decoded: bool, **options: Any) -> None:
        """Compress files with codec settings; rows hold bytes, rates and similarity metrics."""
        from mpq.core.engine import run_sweep
        from mpq.core.files import left_out_notice

        if not options["codecs"]:
            raise MpqError(f"give at least one --codec, e.g. --codec {example}.")
        loader = {name: options.pop(name) for name in list(options) if name in load_names}
        config = sweep_config(options)
        if save_decoded:
            config.on_decoded = decoded_writer(options["out"] / "decoded")
        task = file_items(list(inputs), **loader)
        notice = left_out_notice(task.left_out)
        if notice:
            click.echo(notice, err=True)
        report_summary(run_sweep(task, options["out"], config))

    shared = len(compress.params)
    for option in load_options:
        compress = option(compress)
    load_names = {param.name for param in compress.params[shared:]}
    return compress


class _RunCommand(click.Command):
    """`run`, whose help ends with the modality's tasks and their parameters (read when shown)."""

    modality = ""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section(f"{self.modality.capitalize()} tasks and their --option NAME=VALUE"):
            for name, task_class in tasks_of(self.modality):
                formatter.write_text(f"{name}: {_first_line(task_class.__doc__)}")
                with formatter.indentation():
                    for param in task_class.parameters:
                        formatter.write_text(param.describe())
        super().format_epilog(ctx, formatter)


def tasks_of(modality: str) -> list[tuple[str, type[Task]]]:
    """The installed task plugins of one modality (importing each; broken ones are skipped)."""
    from mpq.core import registry

    found = []
    for name in registry.tasks.names():
        try:
            task_class = registry.tasks.get(name)
        except Exception:  # a plugin that cannot import is not listed; running it says why
            continue
        if getattr(task_class, "modality", None) == modality:
            found.append((name, task_class))
    return found


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


@dataclass(frozen=True)
class ModalityCli:
    """What a modality package gives core to build its command: `mpq-image`, `mpq-audio`."""

    modality: str
    distribution: str
    presets: Path
    default_task: str
    datasets_help: str
    file_items: Callable[..., FileItems]
    decoded_writer: Callable[[Path], Callable[[str, str, Any], None]]
    example_codec: str
    saved_as: str
    load_options: tuple[Callable[..., Any], ...] = ()


def modality_cli(spec: ModalityCli) -> click.Group:
    """The command of one modality: `codecs`, `compress` and `run`, the same for every one."""

    @click.group(help=f"mpq for {spec.modality}: compress, run tasks and measure similarity.")
    @click.version_option(package_name=spec.distribution, prog_name=spec.distribution)
    def main() -> None:
        pass

    main.add_command(codecs_command(spec.modality))
    main.add_command(
        compress_command(
            spec.file_items,
            spec.decoded_writer,
            example=spec.example_codec,
            saved_as=spec.saved_as,
            load_options=spec.load_options,
        )
    )
    main.add_command(
        task_run_command(spec.modality, spec.presets, spec.default_task, spec.datasets_help)
    )
    return main


def task_run_command(
    modality: str, presets_folder: Path, default_task: str, datasets: str
) -> click.Command:
    """The `run` command of a modality CLI: a task plugin, presets, and the sweep options."""

    @click.command("run", cls=_RunCommand)
    @click.option(
        "--preset",
        "preset_names",
        multiple=True,
        metavar="NAME",
        help=f"Defaults from a preset ({', '.join(presets.names(presets_folder))}) or a"
        " .toml file; repeatable, later ones win; options given here override them.",
    )
    @click.option(
        "--task",
        default=default_task,
        show_default=True,
        help="A task plugin (listed below) or python:module:Class.",
    )
    @click.option(
        "--model",
        default=None,
        help="Hub id, a local model directory or file, or python:module:factory.",
    )
    @click.option("--dataset", default=None, help=datasets)
    @click.option(
        "--split",
        default="validation",
        show_default=True,
        help="Dataset split, optionally sliced: validation[:1000] (ids stay those of the whole"
        " split).",
    )
    @click.option(
        "--option",
        "task_options",
        multiple=True,
        metavar="KEY=VALUE",
        help="A parameter of the task (listed below with its type and default); repeatable.",
    )
    @click.option(
        "--trust-remote-code",
        is_flag=True,
        help="Allow a hub model or dataset to run its own code (off by default).",
    )
    @click.option(
        "--report/--no-report",
        default=False,
        show_default=True,
        help="Build the mpq-report report into OUT/report afterwards.",
    )
    @sweep_options
    @click.pass_context
    @friendly_errors
    def run(ctx: click.Context, preset_names: tuple[str, ...], **options: Any) -> None:
        from mpq.core.engine import run_sweep

        options = presets.apply(ctx, presets_folder, preset_names, options)
        for required in ("model", "dataset"):
            if not options[required]:
                raise MpqError(f"give --{required} (or a --preset that sets it).")
        extra = key_values(options["task_options"])
        task = make_task(
            options["task"],
            model=options["model"],
            dataset=options["dataset"],
            split=options["split"],
            trust_remote_code=options["trust_remote_code"],
            **extra,
        )
        arguments = {key: options[key] for key in ("model", "dataset", "split")}
        manifest = {"presets": list(preset_names), "task_options": extra, "task_args": arguments}
        summary = run_sweep(task, options["out"], sweep_config(options, manifest=manifest))
        if options["report"] and not summary.interrupted:
            build_report(options["out"])
        report_summary(summary)

    run.help = (
        f"Run an {modality} task on compressed and uncompressed items into a run directory.\n\n"
        "The uncompressed original of every item is always evaluated as the reference row."
    )
    run.modality = modality
    return run


def key_values(pairs: tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` options as a dict, with a clear error for anything else."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MpqError(f"--option {pair!r} must be KEY=VALUE.")
        out[key] = value
    return out


def make_task(name: str, **kwargs: Any) -> Task:
    """An instance of the task plugin `name`; constructor argument errors become MpqErrors."""
    from mpq.core import registry
    from mpq.core.task import Task

    task_class = registry.tasks.get(name)
    if not (isinstance(task_class, type) and issubclass(task_class, Task)):
        raise MpqError(f"{name!r} is not a Task subclass.")
    try:
        return task_class(**kwargs)
    except MpqError:
        raise
    except (TypeError, ValueError) as error:
        raise MpqError(f"task {name!r} rejected its options: {error}") from error


REPORT_HOOKS = "mpq.report_hooks"


def build_report(out: Path) -> None:
    """The report of one run into OUT/report, by the package that declares the report hook.

    mpq-report declares it (entry point group ``mpq.report_hooks``, name ``build``): core only
    looks it up, so it never imports a package above it.
    """
    import importlib.metadata

    from rich.console import Console

    console = Console(stderr=True, soft_wrap=True)
    hooks = [ep for ep in importlib.metadata.entry_points(group=REPORT_HOOKS) if ep.name == "build"]
    if not hooks:
        console.print("Install mpq-report to build the report (skipped).")
        return
    console.print(f"Report: {hooks[0].load()(out, out / 'report')}")


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Show MpqError as a one-line message (exit 2) instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MpqError as error:
            raise click.ClickException(str(error)) from error

    return wrapper


@click.group()
@click.version_option(package_name="mpq-core", prog_name="mpq")
def main() -> None:
    """mpq: how machine-perception models degrade under lossy compression."""


@main.command()
@click.option(
    "--parameters",
    is_flag=True,
    help="Also list each codec's and task's parameters (imports every plugin).",
)
def plugins(parameters: bool) -> None:
    """List installed codecs, tasks and metrics and the package that brings each."""
    from rich.console import Console
    from rich.table import Table

    from mpq.core import registry

    console = Console()
    for reg in (registry.codecs, registry.tasks, registry.metrics):
        infos = reg.info()
        if not infos:
            console.print(
                f"No {reg.kind}s are installed (entry point group {reg.group}): install mpq-image"
                " or mpq-audio."
            )
            continue
        table = Table(title=f"{reg.kind}s (entry point group {reg.group})")
        for column in ("name", "package", "object"):
            table.add_column(column)
        for info in infos:
            table.add_row(info.name, info.distribution, info.target)
        console.print(table)
    if parameters:
        for reg in (registry.codecs, registry.tasks):
            for name in reg.names():
                try:
                    declared = reg.get(name).parameters
                except Exception as error:  # a broken plugin is listed, not fatal
                    console.print(f"{reg.kind} {name}: cannot import ({error})")
                    continue
                console.print(f"[bold]{reg.kind} {name}[/]")
                for param in declared:
                    console.print(f"    {param.describe()}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--resamples",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples for the confidence intervals (0: none).",
)
@click.option("--failed", is_flag=True, help="List failed rows with their errors.")
@friendly_errors
def show(run_dir: Path, resamples: int, failed: bool) -> None:
    """Summarise a run: its manifest and a table of aggregates with 95% CIs."""
    from rich.console import Console
    from rich.table import Table

    from mpq.core.store import read_run
    from mpq.core.summary import summarize

    manifest, table = read_run(run_dir)
    console = Console(width=None if sys.stdout.isatty() else 200)
    config = manifest.get("task_config", {})
    console.print(
        f"[bold]{run_dir}[/]  run {manifest['run_id']}  status {manifest['status']}\n"
        f"task {manifest['task']}  model {config.get('model', '?')}  dataset"
        f" {config.get('dataset', '?')}  device {manifest.get('device')}"
        f"  seed {manifest.get('seed')}"
    )
    if table.num_rows == 0:
        console.print("No rows stored yet.")
        return
    summaries = summarize(manifest, table, resamples=resamples, seed=manifest.get("seed", 0))
    out = Table(caption="score [95% bootstrap CI]; rate: mean of items (pooled)")
    out.add_column("setting", overflow="fold")
    for column in ("ok", "failed", "rate"):
        out.add_column(column)
    score_names = list(manifest.get("scores", {}))
    unreferenced = manifest.get("items_without_reference", 0)
    metric_names = sorted({name for s in summaries for name in s.metrics})
    for name in score_names + metric_names:
        out.add_column(name)
    for s in summaries:
        rate = (
            "-" if s.rate_unit is None else f"{s.mean_rate:.4g} ({s.pooled_rate:.4g}) {s.rate_unit}"
        )
        cells = [s.setting, str(s.n_ok), str(s.n_failed), rate]
        cells += [_format_score(s.scores.get(n), s.n_ok, unreferenced) for n in score_names]
        cells += [
            _format_metric(s.metrics.get(n), s.n_ok, s.infinite.get(n, 0)) for n in metric_names
        ]
        out.add_row(*cells)
    console.print(out)
    if failed:
        rows = table.filter(table.column("status").to_numpy(zero_copy_only=False) != "ok")
        for row in rows.select(["item_id", "setting", "error"]).to_pylist():
            console.print(f"{row['item_id']} @ {row['setting']}: {row['error']}")


@main.command()
@click.option(
    "--task",
    "task_name",
    required=True,
    metavar="NAME",
    help="Task plugin name (see `mpq plugins`) or python:module:Class.",
)
@click.option(
    "--option",
    "task_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Keyword argument for the task's constructor, repeatable.",
)
@sweep_options
@friendly_errors
def run(task_name: str, task_options: tuple[str, ...], **options: Any) -> None:
    """Sweep any task plugin over codec settings into a run directory."""
    from mpq.core.engine import run_sweep

    kwargs = key_values(task_options)
    config = sweep_config(options, manifest={"task_options": kwargs})
    report_summary(run_sweep(make_task(task_name, **kwargs), options["out"], config))


def _format(value: Aggregate | None) -> str:
    if value is None:
        return "-"
    if math.isnan(value.ci_low):
        return f"{value.value:.4g}"
    return f"{value.value:.4g} [{value.ci_low:.4g}, {value.ci_high:.4g}]"


def _format_score(value: Aggregate | None, n_ok: int, unreferenced: int) -> str:
    """A score undefined for some or all items says so, with why when the run knows."""
    if value is None or n_ok == 0:
        return _format(value)
    why = f"; {unreferenced} items have no reference" if unreferenced else ""
    if value.n == 0:
        return f"undefined (0 of {n_ok} items{why})"
    if value.n < n_ok:
        return f"{_format(value)} ({value.n} of {n_ok} items{why})"
    return _format(value)


def _format_metric(value: Aggregate | None, n_ok: int, infinite: int) -> str:
    """Infinite values are shown as a count, never averaged in; a mean that leaves out items
    where the metric is undefined (NaN: too small for MS-SSIM, silence for SI-SDR) says over how
    many it runs."""
    defined = 0 if value is None else value.n
    shown = []
    if defined:
        counted = f" ({defined} of {n_ok} items)" if defined + infinite < n_ok else ""
        shown.append(f"{_format(value)}{counted}")
    if infinite:
        shown.append(f"inf ({infinite} of {n_ok} items)")
    if not shown:
        return f"undefined (0 of {n_ok} items)" if value is not None and n_ok else _format(value)
    return "; ".join(shown)

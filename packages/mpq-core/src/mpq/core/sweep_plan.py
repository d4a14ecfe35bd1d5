"""What a sweep runs: its settings (the reference first), codec classes and metrics, and the
manifest that records them.

Codecs and metrics of another modality than the task's would fail on every item, so they are
refused here, before any work or any file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mpq.core import registry
from mpq.core.codec import REFERENCE_SETTING, Codec, Setting, codec_class
from mpq.core.errors import MpqError
from mpq.core.metric import Metric
from mpq.core.store import new_manifest
from mpq.core.task import Task


@dataclass
class SweepPlan:
    settings: list[Setting]
    classes: dict[str, type[Codec]]
    metrics: list[Metric]

    @classmethod
    def of(cls, task: Task, settings: list[Setting], metrics: list[str]) -> SweepPlan:
        """The reference and `settings` (each once), their codecs and the named metrics."""
        unique = list({s.id: s for s in [REFERENCE_SETTING, *settings]}.values())
        classes = {s.codec: codec_class(s.codec) for s in unique if not s.is_reference}
        for name, codec in classes.items():
            _check_modality(task, "codec", name, codec)
        metric_classes = {name: registry.metrics.get(name) for name in metrics}
        for name, metric_class in metric_classes.items():
            _check_modality(task, "metric", name, metric_class)
        return cls(unique, classes, [metric_class() for metric_class in metric_classes.values()])

    def libraries(self, task: Task) -> list[str]:
        """The distributions the task, codecs and metrics declare (their versions are recorded)."""
        plugins = [task, *self.classes.values(), *self.metrics]
        return list(dict.fromkeys(lib for plugin in plugins for lib in plugin.libraries))

    def manifest(self, task: Task, task_config: dict[str, Any], **run: Any) -> dict[str, Any]:
        """A new run's manifest: the task, this plan, and `run` (device, batch size, ...)."""
        return new_manifest(
            task=task.name,
            task_config=task_config,
            modality=task.modality,
            scores={name: score.to_json() for name, score in task.scores.items()},
            codecs=[s.id for s in self.settings],
            codec_versions={name: cls.version for name, cls in self.classes.items()},
            codec_knobs={name: _knob_name(cls) for name, cls in self.classes.items()},
            metrics={m.name: _metric_info(m) for m in self.metrics},
            **run,
        )


def _knob_name(cls: type[Codec]) -> str | None:
    """Reports draw one curve per codec and fixed non-knob parameters, ordered by the knob."""
    knob = cls.rate_knob()
    return None if knob is None else knob.name


def _metric_info(metric: Metric) -> dict[str, Any]:
    return {"higher_is_better": metric.higher_is_better, "input_range": metric.input_range}


def _check_modality(task: Task, kind: str, name: str, plugin: Any) -> None:
    """A codec or metric of another modality would fail on every item: refuse it up front."""
    modality = getattr(plugin, "modality", None)
    if modality is not None and modality != task.modality:
        raise MpqError(
            f"{kind} {name!r} is for {modality}, but task {task.name!r} works on"
            f" {task.modality}; choose an {task.modality} {kind} (mpq plugins lists them)."
        )

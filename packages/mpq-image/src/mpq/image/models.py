"""Image classifiers from the hub, a local directory or a Python factory, behind one interface.

Every source gives the same three things: a torch module in eval mode, a `preprocess` that turns
decoded HxWx3 uint8 arrays into the model's input batch, and the model's class names by id.

A hub id is looked up with one quick request first: when the hub cannot be reached, the model is
loaded from the local cache only, instead of letting huggingface_hub retry with back-off for half
a minute per file; a model that is not cached then fails at once with an error saying what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

from mpq.core import hub
from mpq.core.errors import MpqError
from mpq.core.registry import PYTHON_PREFIX, load_python_path


class Classifier(NamedTuple):
    """What `load_classifier` returns and what a ``python:module:factory`` returns.

    ``model(batch)`` gives logits (batch, classes), or an output whose ``.logits`` they are.
    """

    model: torch.nn.Module
    preprocess: Callable[[list[np.ndarray]], torch.Tensor]
    id2label: dict[int, str]


def load_classifier(spec: str, device: str, trust_remote_code: bool = False) -> Classifier:
    """The model `spec` names (hub id, local directory or python:module:factory) on `device`."""
    if spec.startswith(PYTHON_PREFIX):
        classifier = _from_factory(spec)
    else:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        # float32 whatever the checkpoint stores (transformers keeps its dtype): lower precision
        # is the sweep's --amp choice, not an accident of how the weights were saved.
        model = pretrained(
            AutoModelForImageClassification, spec, trust_remote_code, dtype=torch.float32
        )
        processor = pretrained(AutoImageProcessor, spec, trust_remote_code)
        id2label = as_id2label(model.config.id2label)
        classifier = Classifier(model, _processor_call(processor), id2label)
    return classifier._replace(model=classifier.model.eval().to(device))


def classifier_labels(spec: str, trust_remote_code: bool = False) -> dict[int, str]:
    """The model's class names by id; for hub ids and directories only its config is read."""
    if spec.startswith(PYTHON_PREFIX):
        return _from_factory(spec).id2label
    from transformers import AutoConfig

    return as_id2label(pretrained(AutoConfig, spec, trust_remote_code).id2label)


def as_id2label(id2label: Mapping[Any, Any] | list[str]) -> dict[int, str]:
    """Class names keyed by int id (configs may key them by strings; a list is read in order)."""
    pairs = id2label.items() if isinstance(id2label, Mapping) else enumerate(id2label)
    return {int(key): str(name) for key, name in pairs}


def _processor_call(processor: Any) -> Callable[[list[np.ndarray]], torch.Tensor]:
    """The model's own image processor over a batch; channels are named, never guessed."""

    def preprocess(images: list[np.ndarray]) -> torch.Tensor:
        # Decoders may return read-only arrays, which torch refuses to wrap without a warning.
        arrays = [image if image.flags.writeable else image.copy() for image in images]
        inputs = processor(images=arrays, return_tensors="pt", input_data_format="channels_last")
        return inputs["pixel_values"]

    return preprocess


def _from_factory(spec: str) -> Classifier:
    factory = load_python_path(spec[len(PYTHON_PREFIX) :], "model factory")
    if not callable(factory):
        raise MpqError(f"model {spec!r} is not callable; name a function that builds the model.")
    built = factory()
    missing = [name for name in Classifier._fields if not hasattr(built, name)]
    if missing:
        raise MpqError(
            f"model factory {spec!r} returned an object without {', '.join(missing)}; it must"
            " have .model (a torch module), .preprocess (images -> batch) and .id2label."
        )
    return Classifier(built.model, built.preprocess, as_id2label(built.id2label))


def pretrained(auto_class: Any, spec: str, trust_remote_code: bool, **options: Any) -> Any:
    """`auto_class.from_pretrained(spec)` through core's hub path (fast and clear offline)."""
    return hub.from_pretrained(
        auto_class,
        spec,
        trust_remote_code,
        "what save_pretrained writes for the model and its image processor",
        **options,
    )

"""Image classification: top-1 accuracy and top-1 agreement with the uncompressed prediction.

The model (a hub id, a local directory saved with save_pretrained, or python:module:factory; see
`mpq.image.models`) runs its own preprocessing on each decoded image exactly as the codec returned
it: nothing is re-encoded on the way to the model.

Datasets number their classes their own way, so when the task is built, before any codec work,
each dataset class is mapped to the model's class of the same name. Names compare with whitespace
trimmed, exactly first and then case-insensitively; a name such as "tabby, tabby cat" (ImageNet
style) also matches by each comma-separated synonym. The first of these rules that finds a match
decides, and a match with several model classes (ImageNet has two "crane" classes) is an error,
as is a class that matches nothing: a wrong mapping would change the accuracy silently. When the
dataset's names are the model's, in order, the mapping is the identity. Unlabelled datasets score
agreement only; their accuracy statistic is NaN, which the aggregates skip.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch

from mpq.core.errors import MpqError
from mpq.core.params import Param, parse_bool
from mpq.core.task import Item, Score, Stat, Task
from mpq.image.datasets import ImageDataset, open_dataset
from mpq.image.models import Classifier, classifier_labels, load_classifier

# (case-insensitive, by synonym) for each matching rule, tried in this order.
MATCH_RULES = ((False, False), (False, True), (True, False), (True, True))
SHOWN_PROBLEMS = 5


class ImageClassification(Task):
    """A classifier on an image dataset, scored by top-1 accuracy and agreement."""

    libraries = ("mpq-image", "torch", "transformers", "datasets", "pillow")

    name = "image-classification"
    modality = "image"
    scores: ClassVar[dict[str, Score]] = {
        "top1": Score("mean", ("correct",), "Top-1 accuracy"),
        "agreement": Score(
            "mean", ("agree",), "Top-1 agreement with the uncompressed prediction", agreement=True
        ),
    }

    parameters = (
        Param("image_key", str, "", help="the dataset's image column (default: its Image column)"),
        Param("label_key", str, "", help="the label column (default: its ClassLabel column)"),
    )

    def __init__(
        self,
        model: str,
        dataset: str | ImageDataset,
        split: str = "validation",
        trust_remote_code: bool | str = False,
        **options: Any,
    ) -> None:
        values = self.parse_options(options)
        self.model = str(model)
        self.split = str(split)
        self.trust_remote_code = parse_bool(trust_remote_code, "trust_remote_code")
        self.id2label = classifier_labels(self.model, self.trust_remote_code)
        if sorted(self.id2label) != list(range(len(self.id2label))):
            raise MpqError(f"model {self.model!r}: class ids must be 0..N-1 (logit positions).")
        if isinstance(dataset, str | os.PathLike):
            self.dataset_name = str(dataset)
            self.dataset = open_dataset(
                self.dataset_name,
                self.split,
                values["image_key"] or None,
                values["label_key"] or None,
                self.trust_remote_code,
            )
        else:
            self.dataset_name, self.dataset = dataset.name, dataset
        names = self.dataset.label_names
        self.label_map = None if names is None else map_labels(names, self.id2label, self.model)
        self.classifier: Classifier | None = None
        self.device = "cpu"

    def describe(self) -> dict[str, Any]:
        return {"model": self.model, "dataset": self.dataset_name, "split": self.split}

    def count(self) -> int | None:
        return self.dataset.count()

    def items(self) -> Iterator[Item]:
        for example in self.dataset:
            target, error = self._target(example.label)
            yield Item(example.id, example.image, target, example.error or error)

    def _target(self, label: Any) -> tuple[int | None, str | None]:
        """The model's class id for a dataset label (None: unlabelled), or why it has none."""
        if self.label_map is None or label is None or int(label) < 0:
            return None, None  # negative ids mark unlabelled items (e.g. hub test splits)
        if int(label) >= len(self.label_map):
            return None, f"label id {label} is not a class of the dataset's {len(self.label_map)}"
        return self.label_map[int(label)], None

    def setup(self, device: str, amp: bool) -> None:
        classifier = load_classifier(self.model, device, self.trust_remote_code)
        if classifier.id2label != self.id2label:
            raise MpqError(
                f"model {self.model!r} loaded with other class names than its config gave when"
                " the task was built; the label mapping would be wrong."
            )
        self.classifier, self.device = classifier, device

    def predict(self, batch: list[np.ndarray]) -> list[int]:
        """Top-1 model class ids; the whole batch in one forward pass."""
        if self.classifier is None:
            raise MpqError("call setup(device, amp) before predict.")
        with torch.inference_mode():
            pixels = self.classifier.preprocess(list(batch)).to(self.device)
            output = self.classifier.model(pixels)
            logits = getattr(output, "logits", output)
        expected = (len(batch), len(self.id2label))
        if tuple(logits.shape) != expected:
            raise MpqError(
                f"model {self.model!r} returned logits of shape {tuple(logits.shape)};"
                f" expected {expected} (images, classes of its id2label)."
            )
        return logits.float().argmax(dim=-1).tolist()

    def score(self, item: Item, prediction: int, reference_prediction: int) -> dict[str, Stat]:
        correct = math.nan if item.target is None else float(prediction == item.target)
        return {"correct": correct, "agree": float(prediction == reference_prediction)}

    def prediction_json(self, prediction: int) -> dict[str, Any]:
        return {"class": int(prediction), "label": self.id2label.get(int(prediction))}


def map_labels(dataset_names: list[str], id2label: dict[int, str], model: str = "") -> list[int]:
    """The model class id of each dataset class id, matched by name (see the module docstring)."""
    if len(dataset_names) == len(id2label) and all(
        _keys(name, True, False) == _keys(id2label[i], True, False)
        for i, name in enumerate(dataset_names)
    ):
        return list(range(len(dataset_names)))
    indexes = [_index(id2label, *rule) for rule in MATCH_RULES]
    mapping, problems = [], []
    for name in dataset_names:
        found: set[int] = set()
        for rule, index in zip(MATCH_RULES, indexes, strict=True):
            found = set().union(*(index.get(key, set()) for key in _keys(name, *rule)))
            if found:
                break
        if len(found) == 1:
            mapping.append(next(iter(found)))
        elif found:
            classes = ", ".join(f"{i} {id2label[i]!r}" for i in sorted(found))
            problems.append(f"{name!r} (matches model classes {classes})")
        else:
            problems.append(f"{name!r} (no model class has this name)")
    if problems:
        more = len(problems) - SHOWN_PROBLEMS
        listed = "; ".join(problems[:SHOWN_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        examples = ", ".join(repr(id2label[i]) for i in sorted(id2label)[:3])
        raise MpqError(
            f"{len(problems)} of the dataset's {len(dataset_names)} classes match no single class"
            f" of model {model!r}: {listed}. Classes are matched by name (case-insensitive;"
            " 'a, b' names match by each synonym). Use a model trained on these classes, or name"
            " the dataset's classes as the model's config.id2label does (for imagefolder, the"
            f" folder names), e.g. {examples}."
        )
    return mapping


def _keys(name: str, fold: bool, split: bool) -> set[str]:
    text = " ".join(str(name).split())
    text = text.casefold() if fold else text
    if not split:
        return {text}
    return {part.strip() for part in text.split(",") if part.strip()}


def _index(id2label: dict[int, str], fold: bool, split: bool) -> dict[str, set[int]]:
    index: dict[str, set[int]] = defaultdict(set)
    for class_id, name in id2label.items():
        for key in _keys(name, fold, split):
            index[key].add(class_id)
    return index

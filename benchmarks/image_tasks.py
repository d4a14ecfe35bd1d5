"""Model-stage throughput: the seed's one-image-at-a-time HF pipeline vs mpq's batched engine.

A ViT-Base-sized classifier (transformers' default ViTConfig: 86M parameters, 224x224; random
weights, since hub weights are unreachable offline: the compute is the same) is saved to a
temporary folder and loaded through each path. On the same photo tiles and device it measures:

1. items/s of `transformers.pipeline("image-classification")` called per image (batch size 1),
2. items/s of mpq's model stage (the reference rows only, batched), target >= 2x (1),
3. a whole sweep (JPEG at two qualities, codec workers overlapping the model) vs the model stage
   alone on the same rows, target <= 1.15.

Run: python benchmarks/image_tasks.py [--items 48] [--batch-size 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor, pipeline

from mpq.core.codec import parse_codec_spec
from mpq.core.engine import SweepConfig, run_sweep
from mpq.image.tasks.classification import ImageClassification

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")


def tiles(count: int, folder: Path) -> list[Path]:
    images = [np.asarray(getattr(skimage.data, name)())[..., :3] for name in PHOTOS]
    folder.mkdir(parents=True)
    paths = []
    rng = np.random.default_rng(0)
    for i in range(count):
        image = images[i % len(images)]
        top = rng.integers(0, image.shape[0] - 224)
        left = rng.integers(0, image.shape[1] - 224)
        path = folder / f"tile{i:03d}.png"
        Image.fromarray(image[top : top + 224, left : left + 224]).save(path)
        paths.append(path)
    return paths


def save_model(folder: Path) -> None:
    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(num_labels=1000)).eval()
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)


def seed_pipeline(model: Path, paths: list[Path], device: str) -> float:
    classify = pipeline("image-classification", model=str(model), device=device)
    classify(Image.open(paths[0]))  # warm-up, as the engine's setup is not timed either
    start = time.perf_counter()
    for path in paths:
        classify(Image.open(path))
    return len(paths) / (time.perf_counter() - start)


def model_stage(model: Path, folder: Path, batch_size: int, device: str, repeat: int) -> float:
    """Seconds of mpq's batched predict over every item `repeat` times (setup not timed)."""
    task = ImageClassification(model=str(model), dataset=str(folder))
    task.setup(device, False)
    images = [item.data for item in task.items()] * repeat
    task.predict(images[:batch_size])
    start = time.perf_counter()
    for i in range(0, len(images), batch_size):
        task.predict(images[i : i + batch_size])
    return time.perf_counter() - start


def sweep(model: Path, folder: Path, out: Path, args) -> float:
    """Wall time of a whole sweep: reference + JPEG q5 and q50, codec workers overlapping."""
    task = ImageClassification(model=str(model), dataset=str(folder))
    settings = parse_codec_spec("jpeg:quality=5,50")
    config = SweepConfig(
        settings=settings, workers=2, batch_size=args.batch_size, device=args.device,
        cache_dir=None, progress=False,
    )  # fmt: skip
    start = time.perf_counter()
    run_sweep(task, out, config)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = tiles(args.items, root / "tiles")
        save_model(root / "vit")
        seed_rate = seed_pipeline(root / "vit", paths, args.device)
        model_s = model_stage(root / "vit", root / "tiles", args.batch_size, args.device, 1)
        mpq_rate = args.items / model_s
        print(f"ViT-Base on {args.items} tiles of 224x224, device {args.device}:")
        print(f"  HF pipeline, batch size 1:        {seed_rate:6.2f} items/s")
        print(f"  mpq model stage, batch size {args.batch_size:<3d}:  {mpq_rate:6.2f} items/s"
              f"  -> {mpq_rate / seed_rate:.2f}x (target >= 2)")  # fmt: skip
        sweep_s = sweep(root / "vit", root / "tiles", root / "sweep", args)
        alone_s = model_stage(root / "vit", root / "tiles", args.batch_size, args.device, 3)
        print(f"  sweep of {args.items * 3} rows (reference + JPEG q5, q50, model load included):"
              f" {sweep_s:.1f} s; model stage alone on as many rows {alone_s:.1f} s"
              f" -> {sweep_s / alone_s:.3f} (target <= 1.15)")  # fmt: skip


if __name__ == "__main__":
    main()

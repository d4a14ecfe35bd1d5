"""Model-stage throughput: the seed's one-image-at-a-time HF pipeline vs mpq's batched engine.

A ViT-Base-sized classifier (transformers' default ViTConfig: 86M parameters, 224x224; random
weights, since hub weights are unreachable offline: the compute is the same) is saved to a
temporary folder and loaded through each path. On the same photo tiles and device it measures:

1. items/s of `transformers.pipeline("image-classification")` called per image (batch size 1),
2. items/s of mpq's model stage (the reference rows only, batched), target >= 2x (1),
3. a whole sweep (JPEG at two qualities, codec workers overlapping the model) vs the model stage
   alone on the same rows, target <= 1.15.
The contenders run in interleaved rounds (each round runs every one once); figures are medians
over rounds, with their min-max, and ratios are medians of per-round ratios.

Run: python benchmarks/image_tasks.py [--items 48] [--batch-size 16] [--device cpu] [--rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
from itertools import count
from pathlib import Path

import numpy as np
import skimage.data
import torch
from interleave import DEFAULT_ROUNDS, print_times, ratio, rounds, verdict
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


def seed_pipeline(model: Path, paths: list[Path], device: str):
    """The HF pipeline called per image, warmed up (as the engine's setup is not timed either)."""
    classify = pipeline("image-classification", model=str(model), device=device)
    classify(Image.open(paths[0]))
    return lambda: [classify(Image.open(path)) for path in paths]


def model_stage(model: Path, folder: Path, batch_size: int, device: str, repeat: int):
    """mpq's batched predict over every item `repeat` times (setup not timed)."""
    task = ImageClassification(model=str(model), dataset=str(folder))
    task.setup(device, False)
    images = [item.data for item in task.items()] * repeat
    task.predict(images[:batch_size])
    return lambda: [
        task.predict(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
    ]


def sweep(model: Path, folder: Path, out: Path, args) -> None:
    """A sweep: reference + JPEG q5 and q50, codec workers overlapping, model load included."""
    task = ImageClassification(model=str(model), dataset=str(folder))
    settings = parse_codec_spec("jpeg:quality=5,50")
    config = SweepConfig(
        settings=settings, workers=2, batch_size=args.batch_size, device=args.device,
        cache_dir=None, progress=False,
    )  # fmt: skip
    run_sweep(task, out, config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = tiles(args.items, root / "tiles")
        save_model(root / "vit")
        runs = count()
        seconds = rounds(
            {
                "HF pipeline, batch size 1": seed_pipeline(root / "vit", paths, args.device),
                f"mpq model stage, batch size {args.batch_size}": model_stage(
                    root / "vit", root / "tiles", args.batch_size, args.device, 1
                ),
                f"sweep of {args.items * 3} rows (reference + JPEG q5, q50)": lambda: sweep(
                    root / "vit", root / "tiles", root / f"sweep{next(runs)}", args
                ),
                f"model stage alone on {args.items * 3} rows": model_stage(
                    root / "vit", root / "tiles", args.batch_size, args.device, 3
                ),
            },
            args.rounds,
        )
        seed_s, mpq_s, sweep_s, alone_s = seconds.values()
        print(f"ViT-Base on {args.items} tiles of 224x224, device {args.device},"
              f" {args.rounds} interleaved rounds, median [min-max]:")  # fmt: skip
        print_times(seconds)
        print(f"  mpq model stage / HF pipeline speed: {verdict(ratio(seed_s, mpq_s), 2, False)}")
        print(f"  sweep / model stage alone: {verdict(ratio(sweep_s, alone_s), 1.15)}")


if __name__ == "__main__":
    main()

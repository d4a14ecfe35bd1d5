"""mpq's compress path against CompressAI's own benchmark tool, and every codec's speed.

1. JPEG and WebP at several qualities on the same photos (scikit-image's, cropped to 256x256
   tiles) through `python -m compressai.utils.bench` and through `mpq-image compress` (both
   computing PSNR and MS-SSIM). Prints the mean bpp of each (they must agree exactly) and the
   wall-time ratio (target: mpq with --workers 2 at least 2x faster than the tool's default).
2. Median per-image encode and decode time of every installed image codec on a 256x256 photo.
   Learned codecs run with random weights (the published ones are not reachable offline), which
   gives their real compute cost but not their real entropy-coding time at trained rates.

Run: python benchmarks/image_codecs.py  (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

from mpq.core import registry
from mpq.core.codec import codec_instance
from mpq.core.errors import MpqError
from mpq.core.store import read_results

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")
QUALITIES = (5, 25, 50, 75)
TILE = 256


def write_tiles(folder: Path) -> list[np.ndarray]:
    tiles = []
    for name in PHOTOS:
        image = np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
        for top in range(0, image.shape[0] - TILE + 1, TILE):
            for left in range(0, image.shape[1] - TILE + 1, TILE):
                tiles.append(image[top : top + TILE, left : left + TILE])
    folder.mkdir(parents=True)
    for i, tile in enumerate(tiles):
        Image.fromarray(tile).save(folder / f"tile{i:03d}.png")
    return tiles


def compressai_bench(codec: str, folder: Path, jobs: int) -> tuple[float, list[float]]:
    qps = ",".join(map(str, QUALITIES))
    command = [sys.executable, "-m", "compressai.utils.bench", codec, str(folder), "-q", qps,
               "-j", str(jobs)]  # fmt: skip
    start = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    return seconds, json.loads(output)["results"]["bpp"]


def mpq_compress(codec: str, folder: Path, out: Path, workers: int) -> tuple[float, list[float]]:
    spec = f"{codec}:quality={','.join(map(str, QUALITIES))}"
    command = [sys.executable, "-m", "mpq.image", "compress", str(folder), "--codec", spec,
               "--metric", "psnr", "--metric", "ms-ssim", "--workers", str(workers),
               "--no-cache", "--no-progress", "--out", str(out)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    rows = read_results(out).to_pylist()
    bpp = [
        statistics.fmean(r["bpp"] for r in rows if r["setting"] == f"{codec}:quality={q}")
        for q in QUALITIES
    ]
    return seconds, bpp


def codec_speeds(tiles: list[np.ndarray]) -> None:
    defaults = {"avif": {"speed": 6}}
    learned = {"pretrained": False}
    print(f"\nper-image time on {TILE}x{TILE} photos (median of 3), encode / decode:")
    for name in registry.codecs.names():
        cls = registry.codecs.get(name)
        if getattr(cls, "modality", None) != "image":
            continue
        values = dict(defaults.get(name, {}))
        if any(p.name == "pretrained" for p in cls.parameters):
            values.update(learned)
        try:
            codec = codec_instance(cls, values)
        except MpqError as error:
            print(f"  {name:22s} not run: {error}")
            continue
        encode, decode = [], []
        for tile in tiles[:3]:
            start = time.perf_counter()
            bitstream = codec.encode(tile)
            encode.append(time.perf_counter() - start)
            start = time.perf_counter()
            codec.decode(bitstream)
            decode.append(time.perf_counter() - start)
        note = " (random weights)" if "pretrained" in values else ""
        print(
            f"  {name:22s} {statistics.median(encode) * 1000:8.1f} ms /"
            f" {statistics.median(decode) * 1000:8.1f} ms{note}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-speeds", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tiles"
        tiles = write_tiles(folder)
        print(f"{len(tiles)} photo tiles of {TILE}x{TILE}, qualities {QUALITIES}")
        for codec in ("jpeg", "webp"):
            ref_s, ref_bpp = compressai_bench(codec, folder, jobs=1)
            ref2_s, _ = compressai_bench(codec, folder, jobs=2)
            mpq_s, mpq_bpp = mpq_compress(codec, folder, Path(tmp) / f"run-{codec}", workers=2)
            same = np.allclose(ref_bpp, mpq_bpp, rtol=0, atol=1e-12)
            print(f"{codec}: mean bpp compressai {np.round(ref_bpp, 4).tolist()}")
            print(f"{codec}: mean bpp mpq       {np.round(mpq_bpp, 4).tolist()} identical: {same}")
            print(
                f"{codec}: wall time compressai -j1 {ref_s:.1f} s, -j2 {ref2_s:.1f} s;"
                f" mpq --workers 2 {mpq_s:.1f} s -> speed-up {ref_s / mpq_s:.2f}x vs -j1"
                f" (target >= 2), {ref2_s / mpq_s:.2f}x vs -j2"
            )
        if not args.skip_speeds:
            codec_speeds(tiles)


if __name__ == "__main__":
    main()

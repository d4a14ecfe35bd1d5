"""mpq's compress path against CompressAI's own benchmark tool, and every codec's speed.

1. JPEG and WebP at several qualities on the same photos (scikit-image's, cropped to 256x256
   tiles) through `python -m compressai.utils.bench` (its peer, -j1 and -j2) and through
   `mpq-image compress` (both computing PSNR and MS-SSIM), in interleaved rounds: each round runs
   the three once. Prints the mean bpp of each (they must agree exactly) and the median wall-time
   ratio over rounds (target: mpq with --workers 2 at least 2x faster than the tool's -j1).
   Skipped with a line saying so when CompressAI is not installed.
2. Median per-image encode and decode time of every installed image codec on 256x256 photos,
   codecs in interleaved rounds. Learned codecs run with random weights (the published ones are
   not reachable offline), which gives their real compute cost but not their real entropy-coding
   time at trained rates. A codec whose extra is not installed is skipped with a line.

Run: python benchmarks/image_codecs.py [--rounds 5] [--skip-speeds]  (several minutes on 2 cores)
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
from interleave import DEFAULT_ROUNDS, installed, print_times, ratio, rounds, spread, verdict
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


def compressai_bench(codec: str, folder: Path, jobs: int) -> list[float]:
    """Mean bpp per quality from CompressAI's benchmark tool."""
    qps = ",".join(map(str, QUALITIES))
    command = [sys.executable, "-m", "compressai.utils.bench", codec, str(folder), "-q", qps,
               "-j", str(jobs)]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output)["results"]["bpp"]


def mpq_compress(codec: str, folder: Path, out: Path, workers: int) -> list[float]:
    """Mean bpp per quality from `mpq-image compress` into a new run directory."""
    spec = f"{codec}:quality={','.join(map(str, QUALITIES))}"
    command = [sys.executable, "-m", "mpq.image", "compress", str(folder), "--codec", spec,
               "--metric", "psnr", "--metric", "ms-ssim", "--workers", str(workers),
               "--no-cache", "--no-progress", "--out", str(out)]  # fmt: skip
    subprocess.run(command, check=True, capture_output=True)
    rows = read_results(out).to_pylist()
    return [
        statistics.fmean(r["bpp"] for r in rows if r["setting"] == f"{codec}:quality={q}")
        for q in QUALITIES
    ]


def against_compressai(folder: Path, tmp: Path, count: int) -> None:
    if not installed("compressai"):
        print("CompressAI comparison: skipped, compressai is not installed")
        return
    for codec in ("jpeg", "webp"):
        compare(codec, folder, tmp, count)


def compare(codec: str, folder: Path, tmp: Path, count: int) -> None:
    bpp: dict[str, list[float]] = {}
    runs = iter(range(count))

    def tool() -> None:
        bpp["compressai"] = compressai_bench(codec, folder, 1)

    def ours() -> None:
        bpp["mpq"] = mpq_compress(codec, folder, tmp / f"{codec}{next(runs)}", 2)

    seconds = rounds(
        {
            "compressai -j1": tool,
            "compressai -j2": lambda: compressai_bench(codec, folder, 2),
            "mpq --workers 2": ours,
        },
        count,
    )
    same = np.allclose(bpp["compressai"], bpp["mpq"], rtol=0, atol=1e-12)
    print(f"{codec}: mean bpp compressai {np.round(bpp['compressai'], 4).tolist()}")
    print(f"{codec}: mean bpp mpq       {np.round(bpp['mpq'], 4).tolist()} identical: {same}")
    print(f"{codec}: wall time, {count} interleaved rounds, median [min-max]:")
    print_times(seconds)
    mpq_s = seconds["mpq --workers 2"]
    print(f"  speed-up vs -j1: {verdict(ratio(seconds['compressai -j1'], mpq_s), 2, False)}")
    print(f"  speed-up vs -j2: {spread(ratio(seconds['compressai -j2'], mpq_s), unit='x')}")


def codec_speeds(tiles: list[np.ndarray], count: int) -> None:
    defaults = {"avif": {"speed": 6}}
    learned = {"pretrained": False}
    codecs, notes = {}, {}
    for name in registry.codecs.names():
        try:
            cls = registry.codecs.get(name)
        except ImportError as error:  # an optional extra that is not installed
            print(f"  {name:22s} skipped, its extra is not installed ({error})")
            continue
        if getattr(cls, "modality", None) != "image":
            continue
        values = dict(defaults.get(name, {}))
        if any(p.name == "pretrained" for p in cls.parameters):
            values.update(learned)
        try:
            codecs[name] = codec_instance(cls, values)
        except (MpqError, ImportError) as error:
            print(f"  {name:22s} not run: {error}")
            continue
        notes[name] = " (random weights)" if "pretrained" in values else ""
    encode: dict[str, list[float]] = {name: [] for name in codecs}
    decode: dict[str, list[float]] = {name: [] for name in codecs}
    for _ in range(count):  # a round: every codec on every tile, codecs in turn
        for name, codec in codecs.items():
            for tile in tiles[:3]:
                seconds = encode_decode(codec, tile)
                encode[name].append(seconds[0])
                decode[name].append(seconds[1])
    print(f"\nper-image time on {TILE}x{TILE} photos, {count} interleaved rounds of 3 tiles,")
    print("median [min-max], encode / decode:")
    for name in codecs:
        enc = spread(encode[name], unit="ms", scale=1000)
        dec = spread(decode[name], unit="ms", scale=1000)
        print(f"  {name:22s} {enc} / {dec}{notes[name]}")


def encode_decode(codec, tile: np.ndarray) -> tuple[float, float]:
    start = time.perf_counter()
    bitstream = codec.encode(tile)
    middle = time.perf_counter()
    codec.decode(bitstream)
    return middle - start, time.perf_counter() - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--skip-speeds", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tiles"
        tiles = write_tiles(folder)
        print(f"{len(tiles)} photo tiles of {TILE}x{TILE}, qualities {QUALITIES}")
        against_compressai(folder, Path(tmp), args.rounds)
        if not args.skip_speeds:
            codec_speeds(tiles, args.rounds)


if __name__ == "__main__":
    main()

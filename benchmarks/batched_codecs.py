"""Batched vs one-at-a-time coding of the neural codecs, on the CPU and on cuda when present.

1. bmshj2018-hyperprior (quality 1 architecture, random weights: the published ones are not
   reachable offline; the network's cost is the same) on 32 crops of 256x256:
   `encode_batch` + `decode_batch` vs `encode` + `decode` per image, and whether every payload
   and decoded image is identical.
2. EnCodec 24 kHz (random weights) on 16 clips of 5 s: the codec codes one clip at a time, so this
   times the model's own `encode` + `decode` on the whole batch vs clip by clip, reports how far
   the batched codes and waveforms are from the clip-by-clip ones (why the codec does not batch),
   and the full codec per clip for scale.
Medians of interleaved runs with [min-max]; the ratio is one-at-a-time over batched.

Run: python benchmarks/batched_codecs.py [--runs 5] [--only hyperprior|encodec]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import skimage.data
import torch
from encodec import EncodecModel

from mpq.audio.codecs.encodec import EnCodec
from mpq.audio.signal import Audio
from mpq.core.codec import codec_instance
from mpq.image.codecs.compressai import Bmshj2018Hyperprior

IMAGES, IMAGE_SIZE = 32, 256
CLIPS, CLIP_S, CLIP_RATE = 16, 5, 24000


def interleaved(runs: int, **candidates: Callable[[], object]) -> dict[str, list[float]]:
    """Seconds of each candidate per run, the candidates alternating within every run."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def summary(times: dict[str, list[float]], slow: str, fast: str) -> str:
    parts = [
        f"{name} {statistics.median(t):.3f} s [{min(t):.3f}-{max(t):.3f}]"
        for name, t in times.items()
    ]
    ratio = statistics.median(times[slow]) / statistics.median(times[fast])
    return "  ".join(parts) + f"  ratio {ratio:.2f}x"


def crops() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    out = []
    for i in range(IMAGES):
        photo = photos[i % len(photos)]
        y = int(rng.integers(0, photo.shape[0] - IMAGE_SIZE))
        x = int(rng.integers(0, photo.shape[1] - IMAGE_SIZE))
        out.append(np.ascontiguousarray(photo[y : y + IMAGE_SIZE, x : x + IMAGE_SIZE]))
    return out


def hyperprior(device: str, runs: int) -> None:
    images = crops()
    codec = codec_instance(
        Bmshj2018Hyperprior, {"quality": 1, "pretrained": False, "device": device}
    )

    def per_item() -> tuple[list, list]:
        bitstreams = [codec.encode(image) for image in images]
        return bitstreams, [codec.decode(b) for b in bitstreams]

    def batched() -> tuple[list, list]:
        bitstreams = codec.encode_batch(images)
        return bitstreams, codec.decode_batch(bitstreams)

    (alone, alone_decoded), (batch, batch_decoded) = per_item(), batched()  # also warm-up
    same_bytes = [a.payload for a in alone] == [b.payload for b in batch]
    same_pixels = all(
        np.array_equal(a, b) for a, b in zip(alone_decoded, batch_decoded, strict=True)
    )
    print(
        f"bmshj2018-hyperprior, {IMAGES} images {IMAGE_SIZE}x{IMAGE_SIZE}, {device}:"
        f" payloads identical {same_bytes}, decoded identical {same_pixels}"
    )
    times = interleaved(runs, one_at_a_time=per_item, batched=batched)
    print("  encode+decode " + summary(times, "one_at_a_time", "batched"))


def encodec(device: str, runs: int) -> None:
    torch.manual_seed(0)
    model = EncodecModel.encodec_model_24khz(pretrained=False).eval().to(device)
    model.set_target_bandwidth(6.0)
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal((CLIPS, 1, CLIP_S * CLIP_RATE))).astype(np.float32)
    x = torch.from_numpy(samples).to(device)

    def per_item() -> tuple[list, torch.Tensor]:
        with torch.no_grad():
            frames = [model.encode(x[i : i + 1]) for i in range(CLIPS)]
            wavs = torch.cat([model.decode(f) for f in frames])
        return frames, wavs

    def batched() -> tuple[list, torch.Tensor]:
        with torch.no_grad():
            frames = model.encode(x)
            return frames, model.decode(frames)

    (alone, alone_wav), (batch, batch_wav) = per_item(), batched()
    codes = torch.cat([f[0][0] for f in alone])
    print(
        f"encodec_24khz model, {CLIPS} clips of {CLIP_S} s, {device}: batched codes identical"
        f" {torch.equal(codes, batch[0][0])}, decoded max |difference|"
        f" {(alone_wav - batch_wav).abs().max().item():.3g}"
    )
    times = interleaved(runs, one_at_a_time=per_item, batched=batched)
    print("  model encode+decode " + summary(times, "one_at_a_time", "batched"))
    if device == "cpu":
        codec = codec_instance(EnCodec, {"pretrained": False, "bandwidth": 6.0})
        clips = [Audio(s, CLIP_RATE) for s in samples]
        codec.decode(codec.encode(clips[0]))
        start = time.perf_counter()
        for clip in clips:
            codec.decode(codec.encode(clip))
        print(f"  codec encode+decode, one clip at a time: {time.perf_counter() - start:.3f} s")


BENCHMARKS = {"hyperprior": hyperprior, "encodec": encodec}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="interleaved runs per measurement")
    parser.add_argument(
        "--only", choices=tuple(BENCHMARKS), help="run one of the two benchmarks (default: both)"
    )
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for name, benchmark in BENCHMARKS.items():
            if args.only in (None, name):
                benchmark(device, args.runs)


if __name__ == "__main__":
    main()

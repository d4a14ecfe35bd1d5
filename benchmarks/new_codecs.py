"""Speed of the Vorbis, LC3, DAC, SNAC, Mimi, HEIF and MS-ILLM codecs: medians of interleaved runs.

Audio: real-time factor (encode + decode seconds / audio seconds) on a LibriVox clip from
Debian's pocketsphinx-testdata. Images: encode and decode milliseconds per 512x512 photo from
scikit-image. Each round runs every codec once, in turn, so load drifts spread evenly; the
figure printed is the median over rounds. Neural codecs run their released architectures with
random weights (the published ones are not downloaded), so their speed is real and their audio
is not. A codec whose package or extra is missing is skipped with a line saying so. Codecs are
imported by module path, so no entry points are needed.

Run: python benchmarks/new_codecs.py [--rounds N]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from pathlib import Path
from typing import Any

SPEECH = Path("/usr/share/pocketsphinx/test/data/librivox")
AUDIO = [
    ("vorbis", "mpq.audio.codecs.vorbis:Vorbis", {"compression_level": 1.0}),
    ("lc3", "mpq.audio.codecs.lc3:LC3", {"bitrate": 24000}),
    ("dac", "mpq.audio.codecs.dac:DAC", {"pretrained": False, "model": "dac_16khz"}),
    ("snac", "mpq.audio.codecs.snac:SNAC", {"pretrained": False}),
    ("mimi", "mpq.audio.codecs.mimi:Mimi", {"pretrained": False}),
]
IMAGE = [
    ("heif", "mpq.image.codecs.heif:HEIF", {"quality": 50}),
    ("msillm", "mpq.image.codecs.msillm:MSILLM", {"pretrained": False, "quality": 3}),
]


def prepared(entries: list[tuple[str, str, dict]], sample: Any) -> dict[str, Any]:
    """Codecs that load and code `sample` once (warm-up), by label; the rest say why not."""
    ready = {}
    for label, target, values in entries:
        module, _, name = target.partition(":")
        try:
            codec = getattr(importlib.import_module(module), name)(**values)
            codec.setup()
            codec.decode(codec.encode(sample))
        except Exception as error:  # a missing package or extra, reported and skipped
            print(f"  {label:8s} not run: {type(error).__name__}: {error}")
            continue
        ready[label] = codec
    return ready


def timed_rounds(codecs: dict[str, Any], sample: Any, rounds: int) -> dict[str, list[tuple]]:
    """Per codec, (encode s, decode s) of each round, the codecs interleaved within a round."""
    times: dict[str, list[tuple]] = {label: [] for label in codecs}
    for _ in range(rounds):
        for label, codec in codecs.items():
            start = time.perf_counter()
            bitstream = codec.encode(sample)
            middle = time.perf_counter()
            codec.decode(bitstream)
            times[label].append((middle - start, time.perf_counter() - middle))
    return times


def audio_speeds(rounds: int) -> None:
    try:
        from mpq.audio.signal import load_audio
    except ImportError as error:
        print(f"audio codecs not run: {error}")
        return
    clips = sorted(SPEECH.glob("*.wav"))
    if not clips:
        print("audio codecs not run: install Debian's pocketsphinx-testdata for the speech clip")
        return
    clip = load_audio(clips[0])
    print(f"audio: real-time factor on {clip.duration_s:.1f} s of 16 kHz speech,"
          f" median of {rounds} rounds (encode + decode = total):")  # fmt: skip
    codecs = prepared(AUDIO, clip)
    for label, runs in timed_rounds(codecs, clip, rounds).items():
        encode = statistics.median(e for e, _ in runs) / clip.duration_s
        decode = statistics.median(d for _, d in runs) / clip.duration_s
        total = statistics.median(e + d for e, d in runs) / clip.duration_s
        note = "  (random weights)" if "pretrained" in codecs[label].values else ""
        print(f"  {label:8s} {encode:8.4f} + {decode:8.4f} = {total:8.4f}{note}")


def image_speeds(rounds: int) -> None:
    try:
        import skimage.data
        from skimage.transform import resize

        import mpq.image  # noqa: F401
    except ImportError as error:
        print(f"image codecs not run: {error}")
        return
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    photos = [(resize(p, (512, 512), anti_aliasing=True) * 255).round().astype("uint8")
              for p in photos]  # fmt: skip
    print(f"images: ms per 512x512 photo, median of {rounds} rounds x {len(photos)} photos:")
    codecs = prepared(IMAGE, photos[0])
    runs: dict[str, list[tuple]] = {label: [] for label in codecs}
    for photo in photos:
        for label, times in timed_rounds(codecs, photo, rounds).items():
            runs[label] += times
    for label, times in runs.items():
        encode = statistics.median(e for e, _ in times) * 1000
        decode = statistics.median(d for _, d in times) * 1000
        print(f"  {label:8s} encode {encode:8.1f} ms, decode {decode:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per codec")
    args = parser.parse_args()
    audio_speeds(args.rounds)
    image_speeds(args.rounds)


if __name__ == "__main__":
    main()

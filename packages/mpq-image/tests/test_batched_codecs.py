"""Batched coding gives every item the bytes and pixels of coding it alone.

CompressAI's learned codecs run with random weights (`pretrained=false`), on the CPU; the images
are crops of different sizes, some sharing a padded shape, so one batch runs several forwards.
"""

import struct

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from mpq.core.codec import (
    Setting,
    Target,
    apply_setting,
    apply_setting_batch,
    batch_groups,
    codec_device,
    codec_instance,
)
from mpq.core.errors import ParameterError
from mpq.image.codecs import compressai as cai
from mpq.image.codecs.pillow import JPEG

# Padded shapes: 64x64, 64x64, 64x128, 128x64, 64x64.
IMAGES = [
    skimage.data.astronaut()[100:140, 150:200],
    skimage.data.coffee()[50:114, 200:260],
    skimage.data.coffee()[50:111, 200:283],
    skimage.data.chelsea()[50:120, 100:164],
    skimage.data.astronaut()[0:64, 0:64],
]
BATCHING = (cai.Bmshj2018Factorized, cai.Bmshj2018Hyperprior, cai.Mbt2018Mean)
RANDOM = {"quality": 1, "pretrained": False}


def single_item_payload(codec: cai.CompressAICodec, image: np.ndarray) -> bytes:
    """The payload as one-image `compress` gives it: header, then each string with its length."""
    height, width, _ = image.shape
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255)
    with torch.inference_mode():
        out = codec.net.compress(F.pad(x, cai._padding(height, width)))
    strings = [s[0] for s in out["strings"]]
    header = struct.pack("<HHHHB", height, width, *out["shape"], len(strings))
    return header + b"".join(struct.pack("<I", len(s)) + s for s in strings)


@pytest.mark.parametrize("cls", BATCHING, ids=lambda c: c.name)
def test_batched_payloads_are_the_single_image_payloads(cls):
    codec = codec_instance(cls, RANDOM)
    batched = codec.encode_batch(IMAGES)
    assert [b.payload for b in batched] == [single_item_payload(codec, i) for i in IMAGES]
    assert [b.payload for b in batched] == [codec.encode(i).payload for i in IMAGES]
    assert [b.extent for b in batched] == [codec.encode(i).extent for i in IMAGES]


@pytest.mark.parametrize("cls", BATCHING, ids=lambda c: c.name)
def test_batched_decode_is_the_single_image_decode(cls):
    codec = codec_instance(cls, RANDOM)
    bitstreams = [codec.encode(image) for image in IMAGES]
    alone = [codec.decode(b) for b in bitstreams]
    batched = codec.decode_batch(bitstreams)
    assert [d.shape for d in batched] == [i.shape for i in IMAGES]
    assert all(np.array_equal(a, b) for a, b in zip(alone, batched, strict=True))
    # Another batch composition (reversed, one image twice) decodes to the same pixels.
    again = codec.decode_batch([*bitstreams[::-1], bitstreams[0]])
    assert all(np.array_equal(a, b) for a, b in zip(alone[::-1] + alone[:1], again, strict=True))


@pytest.mark.slow
def test_a_batch_of_32_same_size_images_codes_as_each_alone():
    codec = codec_instance(cai.Bmshj2018Hyperprior, RANDOM)
    rng = np.random.default_rng(0)
    photo = skimage.data.astronaut()
    images = [
        photo[y : y + 256, x : x + 256] for y, x in rng.integers(0, 256, size=(32, 2)).tolist()
    ]
    batched = codec.encode_batch(images)
    assert [b.payload for b in batched] == [single_item_payload(codec, i) for i in images]
    decoded = codec.decode_batch(batched)
    assert all(np.array_equal(codec.decode(b), d) for b, d in zip(batched, decoded, strict=True))


def test_apply_setting_batch_matches_apply_setting_item_by_item():
    setting = Setting("bmshj2018-hyperprior", tuple(RANDOM.items()))
    batched = apply_setting_batch(cai.Bmshj2018Hyperprior, setting, IMAGES)
    for image, result in zip(IMAGES, batched, strict=True):
        alone = apply_setting(cai.Bmshj2018Hyperprior, setting, image)
        assert result.bitstream.payload == alone.bitstream.payload
        assert np.array_equal(result.decoded, alone.decoded)
        assert result.values == alone.values and result.probes == 1
        assert result.encode_s > 0 and result.decode_s > 0
    assert len({r.encode_s for r in batched}) == 1  # the batch's time, shared out evenly


@pytest.mark.slow
def test_a_rate_target_is_bisected_per_item():
    setting = Setting("bmshj2018-hyperprior", (("pretrained", False),), Target("bpp", 0.5))
    batched = apply_setting_batch(cai.Bmshj2018Hyperprior, setting, IMAGES[1:3])
    alone = [apply_setting(cai.Bmshj2018Hyperprior, setting, image) for image in IMAGES[1:3]]
    assert [r.bitstream.payload for r in batched] == [r.bitstream.payload for r in alone]
    assert [r.values["quality"] for r in batched] == [r.values["quality"] for r in alone]
    assert all(r.probes > 1 for r in batched)


def test_the_default_batch_loop_of_a_classical_codec_matches_one_at_a_time():
    codec = codec_instance(JPEG, {"quality": 30})
    assert not JPEG.batches
    batched = codec.encode_batch(IMAGES)
    assert [b.payload for b in batched] == [codec.encode(i).payload for i in IMAGES]
    decoded = codec.decode_batch(batched)
    assert all(np.array_equal(codec.decode(b), d) for b, d in zip(batched, decoded, strict=True))
    setting = Setting("jpeg", (("quality", 30),))
    results = apply_setting_batch(JPEG, setting, IMAGES)
    for image, result in zip(IMAGES, results, strict=True):
        alone = apply_setting(JPEG, setting, image)
        assert result.bitstream.payload == alone.bitstream.payload
        assert np.array_equal(result.decoded, alone.decoded)
        assert result.values == alone.values


def test_batch_groups_keep_first_seen_order():
    assert batch_groups([(2, 3), (1, 1), (2, 3), (4, 4), (1, 1)]) == [[0, 2], [1, 4], [3]]
    assert batch_groups([]) == []


def test_only_the_factorized_model_defaults_to_the_gpu_when_there_is_one(monkeypatch):
    defaults = {
        cls.name: cls.parameter("device").default for cls in cai.CompressAICodec.__subclasses__()
    }
    assert defaults.pop("bmshj2018-factorized") == "auto"
    assert set(defaults.values()) == {"cpu"}
    assert [cls.batches for cls in (cai.Mbt2018, cai.Cheng2020Anchor)] == [False, False]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    codec = codec_instance(cai.Bmshj2018Factorized, RANDOM)
    assert codec.device == "cpu" and codec.values["device"] == "auto"
    assert codec.values_for(IMAGES[0])["device"] == "cpu"  # rows record where it ran
    with pytest.raises(ParameterError, match="device=cuda is not available"):
        codec_device("cuda", "bmshj2018-factorized")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert codec_device("auto", "bmshj2018-factorized") == "cuda"
    assert codec_device("cpu", "bmshj2018-factorized") == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", BATCHING, ids=lambda c: c.name)
def test_on_cuda_a_batch_codes_each_image_as_alone(cls):
    codec = codec_instance(cls, {**RANDOM, "device": "cuda"})
    batched = codec.encode_batch(IMAGES)
    assert [b.payload for b in batched] == [codec.encode(i).payload for i in IMAGES]
    decoded = codec.decode_batch(batched)
    assert all(np.array_equal(codec.decode(b), d) for b, d in zip(batched, decoded, strict=True))

"""MS-ILLM with random weights (the released architecture) through neuralcompression's own
compress/decompress; the released weights are never downloaded here."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import skimage.data
import torch

from mpq.core.errors import MpqError, ParameterError
from mpq.core.rate import Bitstream
from mpq.image.codecs.msillm import MSILLM, load_model

neuralcompression = pytest.importorskip("neuralcompression")
pytestmark = pytest.mark.slow  # building the 181M-parameter model takes seconds

PHOTO = skimage.data.coffee()[50:111, 200:283]  # 61 x 83: padded to 64 x 128


@pytest.fixture(scope="module")
def codec():
    codec = MSILLM(quality=2, pretrained=False)
    codec.setup()
    return codec


def test_payload_is_the_models_own_strings_behind_the_header(codec):
    bitstream = codec.encode(PHOTO)
    model = load_model(2, False, "")
    x = torch.from_numpy(PHOTO).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        out = model.compress(x)
    assert out.padded_size == (64, 128) and out.image_size == (61, 83)
    hyper, latent = out.hyper_latent_strings[0], out.latent_strings[0]
    assert bitstream.payload == struct.pack(">HHI", 61, 83, len(hyper)) + hyper + latent
    assert bitstream.rate.bpp == 8 * len(bitstream.payload) / (61 * 83)


def test_decoding_is_the_models_own_decompress_at_the_exact_shape(codec):
    bitstream = codec.encode(PHOTO)
    decoded = codec.decode(bitstream)
    assert decoded.shape == PHOTO.shape and decoded.dtype == np.uint8
    model = load_model(2, False, "")
    out = model.compress(torch.from_numpy(PHOTO).permute(2, 0, 1)[None].float() / 255)
    with torch.inference_mode():
        expected = model.decompress(out)[0].mul(255).round().byte().permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(decoded, expected)
    assert codec.encode(PHOTO).payload == bitstream.payload
    np.testing.assert_array_equal(codec.decode(bitstream), decoded)


def test_random_weights_are_the_same_in_every_process():
    first = load_model.__wrapped__(2, False, "")
    second = load_model.__wrapped__(2, False, "")
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_local_checkpoint_loads_the_same_weights(tmp_path, codec):
    path = tmp_path / "msillm.pth"
    torch.save(load_model(2, False, "").state_dict(), path)
    local = MSILLM(quality=2, checkpoint=str(path))
    assert local.encode(PHOTO).payload == codec.encode(PHOTO).payload


def test_errors_say_where_the_weights_come_from(monkeypatch, tmp_path):
    with pytest.raises(ParameterError, match="is not a file"):
        MSILLM(checkpoint=str(tmp_path / "missing.pth")).setup()

    def offline(*_, **__):
        raise OSError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(MpqError, match=r"msillm_target_0\.3bpp\.ckpt.*checkpoint="):
        MSILLM(quality=4).setup()


def test_a_truncated_payload_is_refused(codec):
    bitstream = codec.encode(PHOTO)
    with pytest.raises(MpqError, match="shorter than its header"):
        codec.decode(Bitstream(bitstream.payload[:3], bitstream.extent))

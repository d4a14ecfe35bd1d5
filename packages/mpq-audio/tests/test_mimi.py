"""Mimi with random weights saved and loaded back through MimiModel.from_pretrained (no hub)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mpq.audio.codecs.mimi import Mimi, load_model
from mpq.audio.codes import pack_codes, unpack_codes
from mpq.audio.signal import Audio, resample
from mpq.core.codec import Setting, Target, apply_setting
from mpq.core.errors import MpqError, ParameterError

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A narrow Mimi (the released hop, codebook size and 8 of its 32 codebooks), codebooks random
    so that the codes spread over all 2048 entries (a fresh MimiModel's codebooks are zeros)."""
    torch.manual_seed(0)
    config = transformers.MimiConfig(
        hidden_size=32, num_filters=4, codebook_dim=16, vector_quantization_hidden_dimension=16,
        num_hidden_layers=1, intermediate_size=64, num_attention_heads=2, num_key_value_heads=2,
        head_dim=16, upsample_groups=32, num_quantizers=8,
    )  # fmt: skip
    model = transformers.MimiModel(config)
    for module in model.modules():
        if hasattr(module, "embed_sum"):
            module.embed_sum.copy_(torch.randn_like(module.embed_sum))
    folder = tmp_path_factory.mktemp("mimi")
    model.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def speech(librivox):
    return Audio(librivox.samples[:, 8000:24000].copy(), 16000)  # 1 s


def test_payload_is_the_models_own_codes_packed(checkpoint, speech):
    bitstream = Mimi(checkpoint=checkpoint, n_codebooks=5).encode(speech)
    model = transformers.MimiModel.from_pretrained(checkpoint).eval()
    x = torch.from_numpy(resample(speech.samples, 16000, 24000))[None]
    with torch.inference_mode():
        codes = model.encode(x, num_quantizers=5).audio_codes
    assert codes.shape == (1, 5, 13)  # 12.5 frames/s, rounded up
    assert len(np.unique(codes.numpy())) > 20
    assert bitstream.payload == pack_codes(0, [codes[0].numpy()], 2048)
    _, (unpacked,) = unpack_codes(bitstream.payload)
    np.testing.assert_array_equal(unpacked, codes[0].numpy())
    assert len(bitstream.payload) == 8 + math.ceil(13 * 5 * 11 / 8)


def test_decoding_is_the_models_own_decode_with_the_exact_shape(checkpoint, speech, piano):
    codec = Mimi(checkpoint=checkpoint, n_codebooks=3)
    bitstream = codec.encode(speech)
    decoded = codec.decode(bitstream)
    assert decoded.shape == speech.shape and decoded.samples.dtype == np.float32
    model = load_model(True, checkpoint)
    _, (codes,) = unpack_codes(bitstream.payload)
    with torch.inference_mode():
        audio = model.decode(torch.from_numpy(codes)[None]).audio_values[0].numpy()
    expected = resample(audio, 24000, 16000)[:, : speech.length]
    np.testing.assert_allclose(decoded.samples, expected, atol=1e-6)
    np.testing.assert_array_equal(codec.decode(bitstream).samples, decoded.samples)
    stereo = Audio(piano.samples[:, :22050].copy(), 44100)
    assert codec.decode(codec.encode(stereo)).shape == stereo.shape


def test_rate_is_12_5_frames_of_11_bits_per_codebook(checkpoint):
    audio = Audio(np.zeros((1, 24 * 1920), np.float32), 24000)  # 1.92 s, whole frames
    for n in (1, 2, 4, 8):
        payload = Mimi(checkpoint=checkpoint, n_codebooks=n).encode(audio).payload
        assert (len(payload) - 8) * 8 == math.ceil(24 * n * 11 / 8) * 8
    rates = [Mimi(checkpoint=checkpoint, n_codebooks=n).encode(audio).rate.kbps for n in (1, 4, 8)]
    assert rates == sorted(rates) and rates[-1] > 6 * rates[0]


def test_more_codebooks_than_the_model_has_codes_with_all_of_them(checkpoint, speech):
    codec = Mimi(checkpoint=checkpoint, n_codebooks=32)
    codec.setup()
    assert codec.values["n_codebooks"] == 8


def test_rate_target_lands_at_or_under(checkpoint, speech):
    setting = Setting("mimi", (("checkpoint", checkpoint),), Target("kbps", 0.6))
    result = apply_setting(Mimi, setting, speech)
    # 13 frames x 11 bits per codebook + 8 header bytes over 1 s.
    assert result.values["n_codebooks"] == 3
    assert result.bitstream.rate.kbps <= 0.6


def test_checkpoint_and_offline_errors_say_what_to_do(monkeypatch, tmp_path):
    with pytest.raises(ParameterError, match="save_pretrained"):
        Mimi(checkpoint=str(tmp_path)).setup()

    def offline(*_, **__):
        raise OSError("no network")

    monkeypatch.setattr(transformers.MimiModel, "from_pretrained", offline)
    with pytest.raises(MpqError, match=r"kyutai/mimi.*checkpoint=DIR"):
        Mimi().setup()


@pytest.mark.slow
def test_random_weights_have_the_released_frame_rate_and_codebooks():
    model = load_model(False, "")
    config = model.config
    assert (config.sampling_rate, config.frame_rate, config.codebook_size) == (24000, 12.5, 2048)
    assert config.num_quantizers == 32
    again = load_model.__wrapped__(False, "")  # seeded: the same model in every process
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True)
    )

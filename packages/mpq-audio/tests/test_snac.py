"""SNAC with random weights saved and loaded back through SNAC.from_pretrained (no downloads)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mpq.audio.codecs.snac import SNAC, load_model, random_config
from mpq.audio.codes import pack_codes, unpack_codes
from mpq.audio.signal import Audio, resample
from mpq.core.codec import parse_codec_spec
from mpq.core.errors import MpqError, ParameterError

snac = pytest.importorskip("snac")
PAD = 512 * 4  # the 24 kHz model pads to its hop x its coarsest stride


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A narrow 24 kHz SNAC in the hub repository's layout (config.json + pytorch_model.bin)."""
    torch.manual_seed(0)
    config = {**random_config("snac_24khz"), "encoder_dim": 4, "decoder_dim": 16}
    folder = tmp_path_factory.mktemp("snac")
    (folder / "config.json").write_text(json.dumps(config))
    torch.save(snac.SNAC(**config).state_dict(), folder / "pytorch_model.bin")
    return str(folder)


@pytest.fixture(scope="module")
def speech(librivox):
    return Audio(librivox.samples[:, 8000:24000].copy(), 16000)  # 1 s


def test_payload_is_the_models_own_codes_one_stream_per_scale(checkpoint, speech):
    bitstream = SNAC(checkpoint=checkpoint).encode(speech)
    model = snac.SNAC.from_pretrained(checkpoint).eval()
    x = torch.from_numpy(resample(speech.samples, 16000, 24000))[None]
    with torch.inference_mode():
        codes = model.encode(x)
    assert [c.shape[-1] for c in codes] == [12, 24, 48]  # 24000 samples padded to 24576
    assert bitstream.payload == pack_codes(0, [c.numpy() for c in codes], 4096)
    _, streams = unpack_codes(bitstream.payload)
    for original, back in zip(codes, streams, strict=True):
        np.testing.assert_array_equal(back, original.numpy())


def test_decoding_keeps_the_exact_shape_and_is_deterministic(checkpoint, speech, piano):
    codec = SNAC(checkpoint=checkpoint)
    for audio in (speech, Audio(piano.samples[:, :22050].copy(), 44100)):
        bitstream = codec.encode(audio)
        decoded = codec.decode(bitstream)
        assert decoded.shape == audio.shape and decoded.samples.dtype == np.float32
        np.testing.assert_array_equal(codec.decode(bitstream).samples, decoded.samples)
        assert codec.encode(audio).payload == bitstream.payload


def test_decoding_draws_the_decoders_noise_from_a_fixed_seed(checkpoint, speech):
    # SNAC's NoiseBlock adds torch.randn noise in every decoder block.
    codec = SNAC(checkpoint=checkpoint)
    bitstream = codec.encode(speech)
    torch.manual_seed(1)
    first = codec.decode(bitstream).samples
    after = torch.rand(1)
    torch.manual_seed(1)
    np.testing.assert_array_equal(codec.decode(bitstream).samples, first)
    assert torch.rand(1) == after  # the caller's random stream is left alone
    _, streams = unpack_codes(bitstream.payload)
    model = load_model("snac_24khz", True, checkpoint)
    with torch.inference_mode():
        unseeded = model.decode([torch.from_numpy(s) for s in streams])[0, 0, :24000]
    assert not np.allclose(resample(unseeded[None].numpy(), 24000, 16000), first, atol=1e-4)


def test_rate_is_the_code_rate_plus_the_header(checkpoint):
    audio = Audio(np.zeros((1, 48 * PAD), np.float32), 24000)  # 4.096 s, no padding
    bitstream = SNAC(checkpoint=checkpoint).encode(audio)
    header = 3 + 5 * 3
    # 11.7 + 23.4 + 46.9 frames/s x 12 bits = 984.4 bit/s, SNAC's "0.98 kbps".
    assert (len(bitstream.payload) - header) * 8 / 4.096 == pytest.approx(984.375)


def test_snac_has_no_rate_knob_to_target():
    with pytest.raises(ParameterError, match="no monotone rate knob"):
        parse_codec_spec("python:mpq.audio.codecs.snac:SNAC:kbps=1")


def test_checkpoint_errors_name_the_problem(checkpoint, tmp_path):
    with pytest.raises(ParameterError, match=r"config\.json and pytorch_model\.bin"):
        SNAC(checkpoint=str(tmp_path)).setup()
    with pytest.raises(ParameterError, match="24000 Hz model, not snac_32khz"):
        SNAC(model="snac_32khz", checkpoint=checkpoint).setup()


def test_offline_error_says_where_the_weights_come_from(monkeypatch):
    def offline(*_, **__):
        raise OSError("no network")

    monkeypatch.setattr(snac.SNAC, "from_pretrained", offline)
    with pytest.raises(MpqError, match=r"hubertsiuzdak/snac_44khz.*checkpoint=DIR"):
        SNAC(model="snac_44khz").setup()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "kbps", "params"),
    [("snac_24khz", 0.98, 19.8), ("snac_32khz", 1.9, 54.5), ("snac_44khz", 2.6, 54.5)],
)
def test_random_weights_have_the_published_rates_and_sizes(name, kbps, params):
    model = load_model(name, False, "")
    # SNAC's README: 0.98 / 1.9 / 2.6 kbps, 19.8M / 54.5M / 54.5M parameters.
    assert sum(p.numel() for p in model.parameters()) / 1e6 == pytest.approx(params, abs=0.05)
    frames = sum(model.sampling_rate / model.hop_length / s for s in model.vq_strides)
    assert frames * 12 / 1000 == pytest.approx(kbps, abs=0.05)
    again = load_model.__wrapped__(name, False, "")  # seeded: the same model in every process
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True)
    )

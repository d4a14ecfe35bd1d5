"""DAC with random weights saved and loaded back through DAC's own weights format (no downloads)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mpq.audio.codecs.dac import DAC, load_model, random_config
from mpq.audio.codes import pack_codes, unpack_codes
from mpq.audio.signal import Audio
from mpq.core.codec import Setting, Target, apply_setting
from mpq.core.errors import MpqError, ParameterError
from mpq.core.rate import Bitstream

dac = pytest.importorskip("dac")
HOP = 320  # 2 * 4 * 5 * 8, the 16 and 24 kHz models' encoder rates


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small 16 kHz DAC (the released model's rates and codebooks, narrow layers)."""
    torch.manual_seed(0)
    model = dac.DAC(encoder_dim=4, decoder_dim=16, **random_config("dac_16khz"))
    path = tmp_path_factory.mktemp("dac") / "weights_16khz.pth"
    model.save(str(path), package=False)
    return str(path)


@pytest.fixture(scope="module")
def speech(librivox):
    return Audio(librivox.samples[:, 8000:24000].copy(), 16000)  # 1 s


def codec(checkpoint, **values):
    return DAC(model="dac_16khz", checkpoint=checkpoint, **values)


def test_payload_is_the_models_own_codes_packed(checkpoint, speech):
    bitstream = codec(checkpoint, n_codebooks=6).encode(speech)
    model = dac.utils.load_model(load_path=checkpoint).eval()
    with torch.inference_mode():
        x = model.preprocess(torch.from_numpy(speech.samples)[None], 16000)
        _, codes, *_ = model.encode(x, n_quantizers=6)
    assert codes.shape == (1, 6, math.ceil(16000 / HOP))
    assert bitstream.payload == pack_codes(2, [codes[0].numpy()], 1024)
    model_id, (unpacked,) = unpack_codes(bitstream.payload)
    assert model_id == 2
    np.testing.assert_array_equal(unpacked, codes[0].numpy())
    # 50 frames x 6 codebooks x 10 bits, plus 3 + 5 header bytes.
    assert len(bitstream.payload) == 8 + math.ceil(50 * 6 * 10 / 8)


def test_decoding_is_the_models_own_decode_cut_to_the_original(checkpoint, speech):
    c = codec(checkpoint, n_codebooks=4)
    bitstream = c.encode(speech)
    decoded = c.decode(bitstream)
    assert decoded.shape == speech.shape and decoded.samples.dtype == np.float32
    model = load_model("dac_16khz", True, checkpoint)
    _, (codes,) = unpack_codes(bitstream.payload)
    with torch.inference_mode():
        z, *_ = model.quantizer.from_codes(torch.from_numpy(codes)[None])
        expected = model.decode(z)[0, 0].numpy()
    # DAC's decoder returns 8 samples fewer than the padded input; the end is zero-filled.
    assert expected.size == speech.length - 8
    np.testing.assert_allclose(decoded.samples[0, : expected.size], expected, atol=1e-6)
    assert not decoded.samples[0, expected.size :].any()
    np.testing.assert_array_equal(c.decode(bitstream).samples, decoded.samples)


def test_rate_grows_by_one_codebook_per_step(checkpoint, speech):
    rates = [codec(checkpoint, n_codebooks=n).encode(speech).rate.kbps for n in (1, 2, 4, 8, 12)]
    assert rates == sorted(rates)
    # 0.5 kbps per codebook at 50 frames/s, plus the 8-byte header over 1 s.
    for n, kbps in zip((1, 2, 4, 8, 12), rates, strict=True):
        assert kbps == pytest.approx((math.ceil(500 * n / 8) + 8) * 8 / 1000)


def test_more_codebooks_than_the_model_has_codes_with_all_of_them(checkpoint, speech):
    c = codec(checkpoint, n_codebooks=20)
    c.setup()
    assert c.values["n_codebooks"] == 12
    _, (codes,) = unpack_codes(c.encode(speech).payload)
    assert codes.shape[0] == 12


def test_stereo_44k_music_is_coded_as_two_mono_items(checkpoint, piano):
    c = codec(checkpoint, n_codebooks=2)
    clip = Audio(piano.samples[:, :22050].copy(), 44100)
    bitstream = c.encode(clip)
    _, streams = unpack_codes(bitstream.payload)
    assert [s.shape for s in streams] == [(2, 25), (2, 25)]  # 0.5 s at 16 kHz = 8000 / 320
    assert c.decode(bitstream).shape == clip.shape


def test_rate_target_lands_at_or_under(checkpoint, speech):
    setting = Setting("dac", (("model", "dac_16khz"), ("checkpoint", checkpoint)),
                      Target("kbps", 2.3))  # fmt: skip
    result = apply_setting(DAC, setting, speech)
    assert result.values["n_codebooks"] == 4
    assert 2.0 < result.bitstream.rate.kbps <= 2.3


def test_a_payload_from_another_model_is_refused(checkpoint, speech):
    bitstream = codec(checkpoint).encode(speech)
    other = Bitstream(bytes([0]) + bitstream.payload[1:], bitstream.extent)
    with pytest.raises(MpqError, match="coded by model 'dac_44khz'"):
        codec(checkpoint).decode(other)


def test_a_payload_for_another_channel_count_is_refused(checkpoint, speech):
    mono = codec(checkpoint).encode(speech)
    stereo_extent = Audio(np.zeros((2, speech.length), np.float32), 16000).extent
    with pytest.raises(MpqError, match="1 code streams do not split over 2 channels"):
        codec(checkpoint).decode(Bitstream(mono.payload, stereo_extent))


def test_checkpoint_errors_name_the_problem(checkpoint, tmp_path):
    with pytest.raises(ParameterError, match="is not a file"):
        DAC(model="dac_16khz", checkpoint=str(tmp_path / "missing.pth")).setup()
    with pytest.raises(ParameterError, match="16000 Hz model, not dac_24khz"):
        DAC(model="dac_24khz", checkpoint=checkpoint).setup()


def test_offline_error_says_where_the_weights_come_from(monkeypatch):
    def offline(**_):
        raise ConnectionError("no network")

    monkeypatch.setattr(dac.utils, "download", offline)
    with pytest.raises(MpqError, match=r"releases.*\.cache/descript/dac.*checkpoint=PATH"):
        DAC(model="dac_24khz").setup()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "hop", "codebooks"), [("dac_44khz", 512, 9), ("dac_24khz", 320, 32)]
)
def test_random_weights_have_the_released_architectures(name, hop, codebooks):
    model = load_model(name, False, "")
    assert (model.hop_length, model.n_codebooks, model.codebook_size) == (hop, codebooks, 1024)
    again = load_model.__wrapped__(name, False, "")  # seeded: the same model in every process
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True)
    )

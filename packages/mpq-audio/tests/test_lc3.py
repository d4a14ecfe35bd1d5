"""LC3 (liblc3 through lc3py) on real speech and music."""

from __future__ import annotations

import numpy as np
import pytest

from mpq.audio.codecs.lc3 import HEADER, LC3
from mpq.audio.signal import Audio, resample
from mpq.core.codec import Setting, Target, apply_setting
from mpq.core.errors import MpqError, ParameterError
from mpq.core.rate import Bitstream

lc3 = pytest.importorskip("lc3")


@pytest.mark.parametrize("frame_ms", [10.0, 7.5, 5.0])
@pytest.mark.parametrize("bitrate", [16000, 24000, 32000])
def test_speech_round_trip_is_exact_in_shape_and_sample_aligned(
    frame_ms, bitrate, librivox_3s, lag
):
    codec = LC3(bitrate=bitrate, frame_ms=frame_ms)
    bitstream = codec.encode(librivox_3s)
    decoded = codec.decode(bitstream)
    assert decoded.shape == librivox_3s.shape and decoded.sample_rate == 16000
    assert decoded.samples.dtype == np.float32
    assert lag(librivox_3s.samples[0], decoded.samples[0]) == 0
    assert bitstream.rate.kbps == pytest.approx(8 * len(bitstream.payload) / 3.0 / 1e3)


@pytest.mark.parametrize(
    ("frame_ms", "bitrate", "kbps"),
    [(10.0, 16000, 16.0), (10.0, 32000, 32.0), (7.5, 32000, 32.0), (7.5, 16000, 21.33),
     (5.0, 16000, 32.0)],
)  # fmt: skip
def test_rate_is_the_cbr_frame_rate_plus_the_header(frame_ms, bitrate, kbps, librivox):
    # 20 bytes is LC3's smallest frame: 7.5 ms frames cannot go under 21.3 kbps, 5 ms under 32.
    rate = LC3(bitrate=bitrate, frame_ms=frame_ms).encode(librivox).rate.kbps
    assert rate == pytest.approx(kbps, rel=0.005)


def test_rate_is_monotone_and_quality_improves_with_the_bitrate(librivox):
    bitrates = [16000, 20000, 24000, 32000, 48000, 64000]
    codecs = [LC3(bitrate=b) for b in bitrates]
    streams = [c.encode(librivox) for c in codecs]
    rates = [s.rate.kbps for s in streams]
    assert rates == sorted(rates) and rates[-1] > 3.5 * rates[0]
    reference = librivox.samples
    errors = [
        np.mean((c.decode(s).samples - reference) ** 2) / np.mean(reference**2)
        for c, s in zip(codecs, streams, strict=True)
    ]
    assert errors[-1] < errors[0] / 10
    # Measured: relative error 0.072 at 16 kbps, 0.021 at 32 kbps (10 ms frames).
    assert errors[0] < 0.1


@pytest.mark.parametrize(("frame_ms", "bitrate"), [(10.0, 24000), (7.5, 32000)])
def test_frames_equal_lc3pys_own_encoder_and_decoder(frame_ms, bitrate, librivox_3s):
    codec = LC3(bitrate=bitrate, frame_ms=frame_ms)
    payload = codec.encode(librivox_3s).payload
    frame_us = int(frame_ms * 1000)
    encoder = lc3.Encoder(frame_us, 16000)
    size, block = encoder.get_frame_samples(), encoder.get_frame_bytes(bitrate)
    assert HEADER.unpack_from(payload) == (16, frame_us // 100, 1, block)
    pcm = librivox_3s.samples[0]
    frames = -(-(pcm.size + encoder.get_delay_samples()) // size)
    pcm = np.concatenate([pcm, np.zeros(frames * size - pcm.size, np.float32)])
    expected = b"".join(
        encoder.encode(pcm[i * size : (i + 1) * size], block) for i in range(frames)
    )
    assert payload[HEADER.size :] == expected
    decoder = lc3.Decoder(frame_us, 16000)
    out = np.concatenate([np.asarray(decoder.decode(expected[i : i + block]), np.float32)
                          for i in range(0, len(expected), block)])  # fmt: skip
    delay = decoder.get_delay_samples()
    decoded = codec.decode(Bitstream(payload, librivox_3s.extent)).samples[0]
    np.testing.assert_array_equal(decoded, out[delay : delay + librivox_3s.length])


def test_stereo_music_keeps_both_channels_aligned(piano, lag):
    codec = LC3(bitrate=128000)
    bitstream = codec.encode(piano)
    # 64 kbps per channel: the Basic Audio Profile's 32 kHz preset.
    assert HEADER.unpack_from(bitstream.payload)[:3] == (32, 100, 2)
    decoded = codec.decode(bitstream)
    assert decoded.shape == piano.shape
    for channel in range(2):
        assert lag(piano.samples[channel], decoded.samples[channel]) == 0


@pytest.mark.parametrize(
    ("rate", "channels", "bitrate", "coding_rate"),
    [(16000, 1, 32000, 16000), (8000, 1, 32000, 8000), (48000, 1, 32000, 16000),
     (48000, 1, 96000, 48000), (44100, 2, 96000, 24000), (22050, 1, 80000, 24000)],
)  # fmt: skip
def test_coding_rate_follows_the_input_and_the_bitrate(rate, channels, bitrate, coding_rate):
    audio = Audio(np.zeros((channels, 10), np.float32), rate)
    assert LC3(bitrate=bitrate).coding_rate(audio) == coding_rate


def test_encoding_and_decoding_are_deterministic(librivox_3s):
    codec = LC3()
    first, second = codec.encode(librivox_3s), codec.encode(librivox_3s)
    assert first.payload == second.payload
    np.testing.assert_array_equal(codec.decode(first).samples, codec.decode(second).samples)


@pytest.mark.parametrize("length", [1, 100])
def test_tiny_inputs_keep_their_length(length):
    original = Audio(np.full((2, length), 0.1, np.float32), 44100)
    assert LC3().decode(LC3().encode(original)).shape == original.shape


def test_decoded_noise_at_a_resampled_rate_is_aligned(lag):
    noise = np.random.default_rng(0).standard_normal((1, 22050)).astype(np.float32)
    original = Audio(0.2 * noise, 44100)
    codec = LC3(bitrate=256000, sample_rate=48000)
    decoded = codec.decode(codec.encode(original))
    expected = resample(resample(original.samples, 44100, 48000), 48000, 44100)
    assert lag(expected[0], decoded.samples[0]) == 0


def test_rate_target_lands_at_or_under(librivox_3s):
    result = apply_setting(LC3, Setting("lc3", target=Target("kbps", 27.0)), librivox_3s)
    assert 26.0 < result.bitstream.rate.kbps <= 27.0
    assert result.decoded.shape == librivox_3s.shape


def test_bad_values_and_payloads_fail_clearly():
    with pytest.raises(ParameterError, match="not one of"):
        LC3(frame_ms=20.0)
    with pytest.raises(ParameterError, match="out of range"):
        LC3(bitrate=8000)
    with pytest.raises(MpqError, match="3-channel"):
        LC3().encode(Audio(np.zeros((3, 100), np.float32), 16000))
    bitstream = LC3().encode(Audio(np.zeros((1, 1600), np.float32), 16000))
    with pytest.raises(MpqError, match="not whole 40-byte frames"):
        LC3().decode(Bitstream(bitstream.payload[:-1], bitstream.extent))

"""LC3, the Bluetooth LE Audio codec, through lc3py (Google's liblc3), in memory.

Rate: LC3 is constant-bitrate with no frame headers; a Bluetooth link configures the decoder
once (sample rate, frame duration, octets per frame) and then carries bare frames. The payload is
therefore a 5-byte header holding exactly that configuration (coding rate in kHz, frame duration
in units of 0.1 ms, channels, 2-byte frame block size) followed by the frames, each the same
size; kbps counts both over the ORIGINAL duration. The frame size is liblc3's
`lc3_hr_frame_block_bytes` for `bitrate` (the largest whole byte count at or under it), clamped
to LC3's 20-400 bytes per channel frame, so 10 ms frames code 16-320 kbps per channel and 2.5 ms
frames no less than 64 kbps; the row's kbps is what was written.

Sample rates: `sample_rate=0` picks the smallest LC3 rate (8/16/24/32/48 kHz) at or above the
input rate, capped by the Basic Audio Profile's presets for the bitrate per channel (16 kHz below
48 kbps, 24 kHz below 64, 32 kHz below 80, as presets 16_2, 24_2, 32_2, 48_2); the input is
resampled with `mpq.audio.signal.resample` (torchaudio, kaiser_best) and back.

Delay: the encoder is fed the input followed by liblc3's algorithmic delay
(`lc3_hr_delay_samples`) in zeros, rounded up to whole frames, and the decoder drops that many
leading samples, so decoded audio is sample-aligned; it is then cut to exactly the original
length. Stereo is coded as LC3 does, one independent frame per channel in each block. Inputs with
more than two channels are refused.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

from mpq.audio.signal import Audio, check_channels, fit, resample, smallest_rate_at_least
from mpq.core.codec import Codec, Param
from mpq.core.errors import MpqError
from mpq.core.rate import Bitstream

LC3_RATES = (8000, 16000, 24000, 32000, 48000)
FRAME_MS = (2.5, 5.0, 7.5, 10.0)
HEADER = struct.Struct(">BBBH")  # kHz, frame duration in 0.1 ms, channels, frame block bytes
# Basic Audio Profile presets: the lowest bitrate per channel at which each rate is used.
PRESET_RATES = ((80000, 48000), (64000, 32000), (48000, 24000), (0, 16000))


class LC3(Codec):
    name = "lc3"
    modality = "audio"
    description = "LC3 (Bluetooth LE Audio, liblc3 through lc3py), CBR frames + 5-byte header"
    parameters = (
        Param("bitrate", int, 32000, low=16000, high=640000, rate=+1, help="CBR bits/s in all"),
        Param("frame_ms", float, 10.0, choices=FRAME_MS, help="frame duration in ms"),
        Param(
            "sample_rate", int, 0, choices=(0, *LC3_RATES),
            help="coding rate in Hz; 0 picks one from the input rate and the bitrate",
        ),
    )  # fmt: skip

    def coding_rate(self, audio: Audio) -> int:
        if self.values["sample_rate"]:
            return self.values["sample_rate"]
        per_channel = self.values["bitrate"] / audio.channels
        cap = next(rate for floor, rate in PRESET_RATES if per_channel >= floor)
        return min(smallest_rate_at_least(audio.sample_rate, LC3_RATES), cap)

    def encode(self, audio: Audio) -> Bitstream:
        lc3 = _lc3()
        check_channels(audio, self.name)
        rate = self.coding_rate(audio)
        frame_us = round(self.values["frame_ms"] * 1000)
        encoder = lc3.Encoder(frame_us, rate, num_channels=audio.channels)
        block = encoder.get_frame_bytes(self.values["bitrate"])
        samples = resample(audio.samples, audio.sample_rate, rate)
        size = encoder.get_frame_samples()
        frames = math.ceil((samples.shape[1] + encoder.get_delay_samples()) / size)
        padded = np.zeros((audio.channels, frames * size), np.float32)
        padded[:, : samples.shape[1]] = np.clip(samples, -1.0, 1.0)
        interleaved = np.ascontiguousarray(padded.T).reshape(frames, -1)
        chunks = [encoder.encode(frame.tobytes(), block) for frame in interleaved]
        header = HEADER.pack(rate // 1000, frame_us // 100, audio.channels, block)
        return Bitstream(header + b"".join(chunks), audio.extent)

    def decode(self, bitstream: Bitstream) -> Audio:
        lc3 = _lc3()
        payload = bitstream.payload
        if len(payload) < HEADER.size:
            raise MpqError("lc3: the payload is shorter than its header.")
        khz, frame_100us, channels, block = HEADER.unpack_from(payload)
        body = payload[HEADER.size :]
        if block == 0 or len(body) % block:
            raise MpqError(f"lc3: {len(body)} payload bytes are not whole {block}-byte frames.")
        try:
            decoder = lc3.Decoder(frame_100us * 100, khz * 1000, num_channels=channels)
            pcm = [decoder.decode(body[at : at + block]) for at in range(0, len(body), block)]
        except lc3.BaseError as error:
            raise MpqError(f"lc3: cannot decode the payload ({error}).") from error
        samples = np.frombuffer(b"".join(p.tobytes() for p in pcm), np.float32)
        samples = samples.reshape(-1, channels).T[:, decoder.get_delay_samples() :].copy()
        samples = resample(samples, khz * 1000, bitstream.extent.sample_rate)
        return fit(samples, bitstream.extent)


def _lc3() -> Any:
    try:
        import lc3
    except ImportError:
        raise MpqError(
            "lc3 needs lc3py: pip install 'mpq-audio[lc3]' (with -c constraints.txt)."
        ) from None
    return lc3

"""MP3 (libmp3lame), Opus (libopus in Ogg) and AAC (FFmpeg's aac in ADTS), in memory through PyAV.

Rate: the payload is the whole container stream the decoder reads, so kbps counts every MP3 frame
including the Xing/LAME header frame (no ID3 tag is written), every Ogg page of Opus including the
OpusHead and OpusTags pages, and every ADTS header of AAC, over the ORIGINAL duration.

Sample rates: the input is resampled to a rate the encoder supports with `mpq.audio.signal.resample`
(torchaudio's `functional.resample`, Kaiser-windowed sinc, width 64, rolloff 0.9476, beta 14.77:
torchaudio's "kaiser_best" settings, zero phase so no delay is added) and decoded audio is
resampled back to the original rate the same way. The coding rate is written in the stream (MP3
and ADTS frame headers, OpusHead), so the decoder takes it from the payload; the original rate,
channels and length come from the bitstream's extent, which every row stores.

Delay and padding: FFmpeg's decoders already drop the MP3 encoder delay and LAME padding (from
the LAME header that libmp3lame writes) and the Opus pre-skip and end trim (OpusHead and the last
granule position), so only AAC needs trimming: FFmpeg's aac encoder primes 1024 samples that ADTS
cannot signal, so the decoder drops them. Decoded audio is then cut or zero-padded to exactly the
original length; tests check the alignment by cross-correlation on real speech.

Bitrate: MP3 is CBR; Opus is CBR by default (`vbr=off`; `on`/`constrained` as options); FFmpeg's
aac encoder has no CBR mode and aims at `bitrate` on average (ABR), with a floor of about 10-18
kbps depending on the sample rate. Inputs with more than two channels are refused.
"""

from __future__ import annotations

import io
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mpq.audio.signal import Audio, check_channels, fit, resample, smallest_rate_at_least
from mpq.core.codec import Codec, Param
from mpq.core.errors import MpqError, ParameterError
from mpq.core.rate import Bitstream

MP3_MPEG1_RATES = (32000, 44100, 48000)
MP3_MPEG2_RATES = (16000, 22050, 24000)
# Layer III bitrates LAME can write (MPEG-2 below 32 kbps, MPEG-1 from 32 kbps; 144 kbps exists
# only in MPEG-2, which is never chosen at that rate, so it is left out).
MP3_BITRATES = (8000, 16000, 24000, 32000, 40000, 48000, 56000, 64000, 80000, 96000, 112000,
                128000, 160000, 192000, 224000, 256000, 320000)  # fmt: skip
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
AAC_PRIMING_SAMPLES = 1024
OPUS_RATE = 48000


def encode_pyav(
    container: str, encoder: str, samples: np.ndarray, rate: int, bitrate: int, options: dict
) -> bytes:
    """Encode (channels, samples) float32 at `rate` into a whole in-memory container stream."""
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    buffer = io.BytesIO()
    with av_open(buffer, container) as output:
        stream = output.add_stream(encoder, rate=rate, options={"flags": "+bitexact", **options})
        stream.bit_rate = bitrate
        stream.layout = layout
        stream.format = stream.codec_context.codec.audio_formats[0].name
        if samples.shape[1]:
            frame = _frame(np.clip(samples, -1.0, 1.0), layout, rate)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def av_open(buffer: io.BytesIO, container: str) -> Any:
    import av

    # bitexact (here and on the encoder): no random Ogg serial number and no library version
    # strings in the stream, so the bytes are repeatable.
    options = {"fflags": "+bitexact"}
    if container == "mp3":
        options["id3v2_version"] = "0"
    return av.open(buffer, mode="w", format=container, options=options)


def _frame(samples: np.ndarray, layout: str, rate: int) -> Any:
    import av

    frame = av.AudioFrame.from_ndarray(
        np.ascontiguousarray(samples, np.float32), format="fltp", layout=layout
    )
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    return frame


def decode_pyav(payload: bytes, container_format: str) -> tuple[np.ndarray, int]:
    """All decoded samples as (channels, samples) float32 and the stream's sample rate."""
    import av

    try:
        with av.open(io.BytesIO(payload), format=container_format) as container:
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            channels = stream.codec_context.layout.nb_channels
            chunks = [_planar(frame) for frame in container.decode(stream)]
    except (av.FFmpegError, IndexError) as error:
        raise MpqError(f"cannot decode the payload ({error}).") from error
    if not chunks:
        return np.zeros((channels, 0), np.float32), rate
    return np.concatenate(chunks, axis=1).astype(np.float32), rate


def _planar(frame: Any) -> np.ndarray:
    array = frame.to_ndarray()
    if not frame.format.is_planar:
        array = array.reshape(-1, frame.layout.nb_channels).T
    if np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.float32) / (float(np.iinfo(array.dtype).max) + 1.0)
    return array


class _FFmpegCodec(Codec):
    libraries = ("mpq-audio", "av", "opuspy")
    modality = "audio"
    container: ClassVar[str]
    encoder: ClassVar[str]
    priming: ClassVar[int] = 0

    def coding_rate(self, audio: Audio) -> int:
        raise NotImplementedError

    def values_for(self, audio: Audio) -> dict[str, Any]:
        """`sample_rate=0` is recorded as the coding rate it picked for this item."""
        values = dict(self.values)
        if "sample_rate" in values:
            values["sample_rate"] = self.coding_rate(audio)
        return values

    def options(self) -> dict[str, str]:
        return {}

    def encode(self, audio: Audio) -> Bitstream:
        check_channels(audio, self.name)
        rate = self.coding_rate(audio)
        samples = resample(audio.samples, audio.sample_rate, rate)
        payload = encode_pyav(
            self.container, self.encoder, samples, rate, self.values["bitrate"], self.options()
        )
        return Bitstream(payload, audio.extent)

    def decode(self, bitstream: Bitstream) -> Audio:
        samples, rate = decode_pyav(bitstream.payload, self.container)
        samples = samples[:, self.priming :]
        return fit(resample(samples, rate, bitstream.extent.sample_rate), bitstream.extent)


class MP3(_FFmpegCodec):
    """MP3 through libmp3lame, CBR. See the module docstring for rate and alignment.

    `sample_rate=0` picks the coding rate: below 32 kbps per channel an MPEG-2 rate (16/22.05/24
    kHz, the only rates LAME codes that low), otherwise an MPEG-1 rate (32/44.1/48 kHz); in both
    cases the smallest of the family at or above the input rate, else the family's highest.
    """

    name = "mp3"
    container = "mp3"
    encoder = "libmp3lame"
    description = "MP3 (libmp3lame, CBR) in memory through PyAV"
    parameters = (
        Param("bitrate", int, 64000, low=8000, high=320000, rate=+1, help="CBR bits/s"),
        Param(
            "sample_rate",
            int,
            0,
            choices=(0, *MP3_MPEG2_RATES, *MP3_MPEG1_RATES),
            help="coding rate in Hz; 0 picks one from the bitrate",
        ),
    )

    def __init__(self, **values: Any) -> None:
        """Snaps the bitrate down to one LAME can write, so the row records what was encoded."""
        super().__init__(**values)
        self.values["bitrate"] = max(b for b in MP3_BITRATES if b <= self.values["bitrate"])

    def coding_rate(self, audio: Audio) -> int:
        if self.values["sample_rate"]:
            return self.values["sample_rate"]
        low = self.values["bitrate"] < 32000 * audio.channels
        rates = MP3_MPEG2_RATES if low else MP3_MPEG1_RATES
        return smallest_rate_at_least(audio.sample_rate, rates)


class AAC(_FFmpegCodec):
    """AAC-LC through FFmpeg's native encoder in ADTS, average bitrate (no CBR mode).

    `sample_rate=0` picks the coding rate: the smallest common AAC rate at or above the input
    rate, capped at 16 kHz below 16 kbps per channel and at 24 kHz below 32 kbps per channel.
    """

    name = "aac"
    container = "adts"
    encoder = "aac"
    priming = AAC_PRIMING_SAMPLES
    description = "AAC-LC (FFmpeg aac, ABR) in ADTS through PyAV"
    parameters = (
        Param("bitrate", int, 64000, low=8000, high=320000, rate=+1, help="average bits/s"),
        Param(
            "sample_rate",
            int,
            0,
            choices=(0, *AAC_RATES),
            help="coding rate in Hz; 0 picks one from the bitrate",
        ),
    )

    def coding_rate(self, audio: Audio) -> int:
        if self.values["sample_rate"]:
            return self.values["sample_rate"]
        per_channel = self.values["bitrate"] / audio.channels
        cap = 16000 if per_channel < 16000 else 24000 if per_channel < 32000 else 48000
        return min(smallest_rate_at_least(audio.sample_rate, AAC_RATES), cap)


class Opus(_FFmpegCodec):
    """Opus in Ogg at 48 kHz, through FFmpeg's libopus (default) or opuspy 0.0.3.

    `backend=opuspy` reproduces the seed study's tool: opuspy (its own libopus, VBR, automatic
    signal type) writes an .opus file from 16-bit samples, and the payload is that file's bytes.
    It takes the input rate when libopus accepts it (8/12/16/24/48 kHz), else the input is
    resampled to 48 kHz. Both backends' payloads decode through FFmpeg's libopus at 48 kHz:
    `opuspy.read` fails on every stereo file. opuspy has no `application` or CBR setting: with
    it `application` must stay `audio`, and `vbr` is recorded as `on`, what it does. Its Ogg
    serial number is random, so its bytes differ between runs (never their length or audio).
    """

    name = "opus"
    container = "ogg"
    encoder = "libopus"
    description = "Opus (libopus) in Ogg through PyAV or opuspy"
    parameters = (
        Param("bitrate", int, 32000, low=6000, high=256000, rate=+1, help="bits/s"),
        Param("vbr", str, "off", choices=("off", "on", "constrained"), help="off = CBR"),
        Param("application", str, "audio", choices=("audio", "voip", "lowdelay")),
        Param("complexity", int, 10, low=0, high=10, help="encoder effort"),
        Param("backend", str, "ffmpeg", choices=("ffmpeg", "opuspy")),
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        if self.values["backend"] == "opuspy":
            if self.values["application"] != "audio" or self.values["vbr"] == "constrained":
                raise ParameterError(
                    "opus: backend=opuspy has no application or constrained-VBR setting; leave"
                    " application=audio and vbr unset."
                )
            self.values["vbr"] = "on"

    def coding_rate(self, audio: Audio) -> int:
        return OPUS_RATE

    def options(self) -> dict[str, str]:
        return {
            "vbr": self.values["vbr"],
            "application": self.values["application"],
            "compression_level": str(self.values["complexity"]),
        }

    def encode(self, audio: Audio) -> Bitstream:
        if self.values["backend"] == "ffmpeg":
            return super().encode(audio)
        import opuspy

        check_channels(audio, self.name)
        rate = audio.sample_rate if audio.sample_rate in (8000, 12000, 16000, 24000) else OPUS_RATE
        samples = resample(audio.samples, audio.sample_rate, rate)
        pcm = np.clip(np.round(samples.T * 32768.0), -32768, 32767).astype(np.int16)
        with tempfile.TemporaryDirectory() as folder:
            path = str(Path(folder) / "item.opus")
            opuspy.write(
                path,
                np.ascontiguousarray(pcm),
                sample_rate=rate,
                bitrate=self.values["bitrate"],
                encoder_complexity=self.values["complexity"],
            )
            payload = Path(path).read_bytes()
        return Bitstream(payload, audio.extent)

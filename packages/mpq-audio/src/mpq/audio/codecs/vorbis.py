"""Ogg Vorbis through soundfile (libsndfile's Ogg/Vorbis writer and reader, libvorbis), in memory.

Rate: the payload is the whole Ogg stream libsndfile writes, so kbps counts every Ogg page: the
three Vorbis header packets (identification, comments with libsndfile's ENCODER tag, and the
codebooks: 3.5 kB in all for mono 16 kHz, 4.4 kB for stereo 44.1 kHz, which weigh on short
items) and the audio pages, over the ORIGINAL duration. Vorbis is VBR: libsndfile calls
`vorbis_encode_init_vbr` with quality 1 - `compression_level`, clipped to [0, 1] (libsndfile
src/ogg_vorbis.c, `vorbis_command`), so the knob runs the other way from the bits it spends.
The default level, 0.6, is libsndfile's own (quality 0.4). Quality 0 is the lowest libsndfile
writes (about 26 kbps on 16 kHz speech); `sample_rate` codes at a lower rate to go below that.

libsndfile gives each stream a random Ogg serial number, so the bytes differ between runs in the
four serial bytes and each page's CRC, never in their length or the decoded audio. The input is
resampled (`mpq.audio.signal.resample`, torchaudio kaiser_best) when `sample_rate` asks
for another rate, and back to the original rate after decoding. Vorbis primes no samples and
the last page's granule position ends the stream at the exact length, so decoding needs no
trimming; the decoder takes the coding rate from the stream and the original rate, channels and
length from the extent. Inputs with more than two channels are refused.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from mpq.audio.signal import Audio, check_channels, fit, resample
from mpq.core.codec import Codec, Param
from mpq.core.errors import MpqError
from mpq.core.rate import Bitstream

CODING_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
WRITE_FRAMES = 2**16


class Vorbis(Codec):
    name = "vorbis"
    modality = "audio"
    description = "Ogg Vorbis (libvorbis VBR through soundfile/libsndfile), in memory"
    parameters = (
        Param(
            "compression_level", float, 0.6, low=0.0, high=1.0, rate=-1,
            help="libsndfile's level: 0 = Vorbis quality 1 (most bits), 1 = quality 0 (fewest)",
        ),
        Param(
            "sample_rate", int, 0, choices=(0, *CODING_RATES),
            help="coding rate in Hz; 0 codes at the input rate",
        ),
    )  # fmt: skip

    def encode(self, audio: Audio) -> Bitstream:
        check_channels(audio, self.name)
        rate = self.values["sample_rate"] or audio.sample_rate
        samples = np.clip(resample(audio.samples, audio.sample_rate, rate), -1.0, 1.0).T
        buffer = io.BytesIO()
        level = self.values["compression_level"]
        with sf.SoundFile(
            buffer, "w", rate, samples.shape[1], format="OGG", subtype="VORBIS",
            compression_level=level,
        ) as out:  # fmt: skip
            # In blocks: libsndfile 1.2.2's Vorbis writer crashes the process on one write of a
            # few minutes of audio (4 min of 16 kHz mono); the stream is the same either way.
            for start in range(0, len(samples), WRITE_FRAMES):
                out.write(samples[start : start + WRITE_FRAMES])
        return Bitstream(buffer.getvalue(), audio.extent)

    def decode(self, bitstream: Bitstream) -> Audio:
        try:
            samples, rate = sf.read(io.BytesIO(bitstream.payload), dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as error:
            raise MpqError(f"vorbis: cannot decode the payload ({error}).") from error
        samples = np.ascontiguousarray(samples.T)
        return fit(resample(samples, rate, bitstream.extent.sample_rate), bitstream.extent)

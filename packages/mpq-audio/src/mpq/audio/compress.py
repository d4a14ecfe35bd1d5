"""`mpq-audio compress`: audio files through codecs, and decoded audio saved as WAV."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mpq.core.files import FileItems, list_files
from mpq.core.paths import decoded_file

if TYPE_CHECKING:
    from mpq.audio.signal import Audio

# numpy, soundfile and the audio readers load with the first file, not with the command line.

# The audio files a folder gives (`compress` and folder datasets): what FFmpeg reads here.
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".raw", ".sph"}


def audio_file_items(inputs: list[Path]) -> FileItems:
    from mpq.audio.signal import load_audio

    found = list_files(inputs, AUDIO_SUFFIXES, "audio files")
    return FileItems("audio", inputs, found.files, load_audio, left_out=found.left_out)


class DecodedWriter:
    """Saves each decoded item as 32-bit float WAV under ROOT/<setting>/<item>.wav."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, item_id: str, setting_id: str, decoded: Audio) -> None:
        import soundfile

        file = decoded_file(self.root, item_id, setting_id, ".wav")
        soundfile.write(file, decoded.samples.T, decoded.sample_rate, "FLOAT")

"""The `mpq-audio` command: list codecs, compress audio, run audio tasks."""

from __future__ import annotations

from pathlib import Path

from mpq.audio.compress import DecodedWriter, audio_file_items
from mpq.core.cli import ModalityCli, modality_cli

PRESETS = Path(__file__).parent / "presets"

main = modality_cli(
    ModalityCli(
        modality="audio",
        distribution="mpq-audio",
        presets=PRESETS,
        default_task="speech-recognition",
        datasets_help="Hub id[@config][:revision=REF][:data_dir=DIR][:data_files=GLOB]"
        "[:streaming=false][:exclude=I,J], commonvoice:PATH, audiofolder:PATH, an audio folder,"
        " musdb:PATH, or pocketsphinx.",
        file_items=audio_file_items,
        decoded_writer=DecodedWriter,
        example_codec="mp3:bitrate=8k,16k,32k",
        saved_as="float WAV",
    )
)

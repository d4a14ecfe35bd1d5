"""The `mpq-image` command: list codecs, compress images, run image tasks."""

from __future__ import annotations

from pathlib import Path

from mpq.core.cli import ModalityCli, modality_cli
from mpq.image.compress import LOAD_OPTIONS, DecodedWriter, image_file_items

PRESETS = Path(__file__).parent / "presets"

main = modality_cli(
    ModalityCli(
        modality="image",
        distribution="mpq-image",
        presets=PRESETS,
        default_task="image-classification",
        datasets_help="Hub id[@config][:revision=REF][:data_dir=DIR][:data_files=GLOB]"
        "[:streaming=false][:exclude=I,J], imagefolder:PATH, a folder of images, or"
        " skimage[:MAX_SIDE].",
        file_items=image_file_items,
        decoded_writer=DecodedWriter,
        example_codec="jpeg:quality=5,10,25",
        saved_as="PNG",
        load_options=LOAD_OPTIONS,
    )
)

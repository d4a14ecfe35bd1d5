"""Rate accounting: the one place where bytes become bits, bpp and kbps.

Every rate mpq reports is derived here from the exact bytes a decoder receives (containers and
headers included) and the ORIGINAL extent of the item: bits per pixel divide by the pixels of the
input image before any padding or model resizing, kbps divide by the input's duration before any
resampling or codec padding. Rows store bytes and extents, so any unit can be derived again later
with `rate_of`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

BITS_PER_BYTE = 8
RAW_IMAGE_BITS_PER_VALUE = 8
RAW_AUDIO_BITS_PER_VALUE = 16


@dataclass(frozen=True)
class ImageExtent:
    """Shape of the original image: the denominator of bits per pixel."""

    height: int
    width: int
    channels: int

    def __post_init__(self) -> None:
        _require_positive(height=self.height, width=self.width, channels=self.channels)

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def raw_bits(self) -> int:
        """Size of the same image stored as raw 8-bit samples."""
        return self.pixels * self.channels * RAW_IMAGE_BITS_PER_VALUE


@dataclass(frozen=True)
class AudioExtent:
    """Length of the original audio: `samples` counts frames per channel."""

    samples: int
    channels: int
    sample_rate: int

    def __post_init__(self) -> None:
        _require_positive(
            samples=self.samples, channels=self.channels, sample_rate=self.sample_rate
        )

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    @property
    def raw_bits(self) -> int:
        """Size of the same audio stored as 16-bit PCM."""
        return self.samples * self.channels * RAW_AUDIO_BITS_PER_VALUE


Extent = ImageExtent | AudioExtent


@dataclass(frozen=True)
class Bitstream:
    """The exact payload a decoder receives, and the extent of the item it encodes.

    A codec must put everything its decoder needs into `payload` (container headers, shapes,
    side information), because only `payload` is counted.
    """

    payload: bytes
    extent: Extent

    @property
    def rate(self) -> Rate:
        return rate_of(len(self.payload), self.extent)


@dataclass(frozen=True)
class Rate:
    """All rate units of one bitstream; the unit that does not apply to its modality is None."""

    bytes: int
    bits: int
    bpp: float | None
    kbps: float | None
    bits_per_sample: float | None
    compression_ratio: float

    @property
    def unit_values(self) -> dict[str, float]:
        """Units a rate target may name, mapped to their values for this bitstream."""
        units = {"bits": float(self.bits), "bytes": float(self.bytes)}
        if self.bpp is not None:
            units["bpp"] = self.bpp
        if self.kbps is not None:
            units["kbps"] = self.kbps
            units["bits_per_sample"] = self.bits_per_sample
        return units


RATE_UNITS_BY_MODALITY = {
    "image": ("bpp", "bits", "bytes"),
    "audio": ("kbps", "bits_per_sample", "bits", "bytes"),
}
RATE_UNITS = ("bpp", "kbps", "bits_per_sample", "bits", "bytes")


def rate_of(n_bytes: int, extent: Extent) -> Rate:
    """Derive every rate unit from a payload length and the original extent."""
    if n_bytes < 0:
        raise ValueError(f"payload length must be >= 0, got {n_bytes}")
    bits = n_bytes * BITS_PER_BYTE
    ratio = extent.raw_bits / bits if bits else float("inf")
    if isinstance(extent, ImageExtent):
        return Rate(n_bytes, bits, bits / extent.pixels, None, None, ratio)
    if isinstance(extent, AudioExtent):
        kbps = bits / extent.duration_s / 1000.0
        per_sample = bits / (extent.samples * extent.channels)
        return Rate(n_bytes, bits, None, kbps, per_sample, ratio)
    raise TypeError(f"unknown extent type {type(extent).__name__}")


def extent_to_dict(extent: Extent) -> dict[str, int | str]:
    kind = "image" if isinstance(extent, ImageExtent) else "audio"
    return {"kind": kind, **{k: int(v) for k, v in vars(extent).items()}}


def extent_from_dict(data: dict[str, int | str]) -> Extent:
    fields = {k: int(v) for k, v in data.items() if k != "kind"}
    return ImageExtent(**fields) if data["kind"] == "image" else AudioExtent(**fields)


def _require_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

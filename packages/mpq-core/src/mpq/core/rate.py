"""Rate accounting: the one place where bytes become bits, bpp and kbps.

Every rate mpq reports is derived here from the exact bytes a decoder receives (containers and
headers included) and the ORIGINAL extent of the item: bits per pixel divide by the pixels of the
input image before any padding or model resizing, kbps divide by the input's duration before any
resampling or codec padding. Rows store bytes and extents, so any unit can be derived again later
with `rate_of`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

BITS_PER_BYTE = 8
RAW_IMAGE_BITS_PER_VALUE = 8
RAW_AUDIO_BITS_PER_VALUE = 16


@dataclass(frozen=True)
class ImageExtent:
    """Shape of the original image: the denominator of bits per pixel."""

    kind: ClassVar[str] = "image"
    rate_unit: ClassVar[str] = "bpp"
    rate_units: ClassVar[tuple[str, ...]] = ("bpp", "bits", "bytes")

    height: int
    width: int
    channels: int

    def __post_init__(self) -> None:
        _require_positive(height=self.height, width=self.width, channels=self.channels)

    def columns(self) -> dict[str, int]:
        return {
            "height": self.height,
            "width": self.width,
            "pixels": self.pixels,
            "channels": self.channels,
        }

    @staticmethod
    def pooled_rate(bits: np.ndarray, column: Callable[[str], np.ndarray]) -> float:
        """Total bits over total pixels of rows (NaN entries left out)."""
        return float(np.nansum(bits) / np.nansum(column("pixels")))

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

    kind: ClassVar[str] = "audio"
    rate_unit: ClassVar[str] = "kbps"
    rate_units: ClassVar[tuple[str, ...]] = ("kbps", "bits_per_sample", "bits", "bytes")

    samples: int
    channels: int
    sample_rate: int

    def __post_init__(self) -> None:
        _require_positive(
            samples=self.samples, channels=self.channels, sample_rate=self.sample_rate
        )

    def columns(self) -> dict[str, int]:
        return {"samples": self.samples, "sample_rate": self.sample_rate, "channels": self.channels}

    @staticmethod
    def pooled_rate(bits: np.ndarray, column: Callable[[str], np.ndarray]) -> float:
        """Total bits over total seconds of rows, in kbps (NaN entries left out)."""
        seconds = column("samples") / column("sample_rate")
        return float(np.nansum(bits) / np.nansum(seconds) / 1000.0)

    @property
    def duration_s(self) -> float:
        return self.samples / self.sample_rate

    @property
    def raw_bits(self) -> int:
        """Size of the same audio stored as 16-bit PCM."""
        return self.samples * self.channels * RAW_AUDIO_BITS_PER_VALUE


class ExtentKind(Protocol):
    """What core asks of an extent class: its name, its row columns and its rate units."""

    kind: ClassVar[str]
    rate_unit: ClassVar[str]  # the unit reports plot rates in
    rate_units: ClassVar[tuple[str, ...]]  # the units a rate target may name

    def columns(self) -> dict[str, int]:
        """The row columns (`records.FIXED_FIELDS`) that describe this extent."""
        ...

    @staticmethod
    def pooled_rate(bits: np.ndarray, column: Callable[[str], np.ndarray]) -> float:
        """The rate of all rows together from their bits and `column(name)` arrays."""
        ...


Extent = ImageExtent | AudioExtent
EXTENT_KINDS: tuple[type[ExtentKind], ...] = (ImageExtent, AudioExtent)
_EXTENT_BY_KIND = {kind.kind: kind for kind in (ImageExtent, AudioExtent)}


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


RATE_UNITS_BY_MODALITY = {kind.kind: kind.rate_units for kind in EXTENT_KINDS}
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
    return {"kind": extent.kind, **{k: int(v) for k, v in vars(extent).items()}}


def extent_from_dict(data: dict[str, int | str]) -> Extent:
    fields = {k: int(v) for k, v in data.items() if k != "kind"}
    return _EXTENT_BY_KIND[str(data["kind"])](**fields)


def _require_positive(**values: int) -> None:
    for name, value in values.items():
        if not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

"""What every image metric shares: the input check, the size refusal and the grouping of pairs.

Every metric takes HxWx3 uint8 RGB arrays and converts them itself to the range its
implementation documents; anything else is refused, so a caller cannot feed the wrong range (a
0-255 float image given to LPIPS would silently produce a wrong number). numpy only: the metrics
computed from pixels (`pixel_metrics`) run in codec workers, which must not import torch.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import ClassVar

import numpy as np

from mpq.core.errors import MpqError
from mpq.core.metric import Metric


class ImageTooSmallError(MpqError, ValueError):
    """An image below the smallest size a metric's windows or network can process."""


class ImageMetric(Metric):
    """A metric of uint8 HxWx3 RGB pairs, one float per pair."""

    modality = "image"
    min_side: ClassVar[int] = 1

    def check_size(self, image: np.ndarray) -> None:
        """Refuse an image whose shorter side is below `min_side`, naming the metric."""
        height, width = image.shape[:2]
        if min(height, width) < self.min_side:
            raise ImageTooSmallError(
                f"{self.name} needs images of at least {self.min_side}x{self.min_side} pixels;"
                f" got {height}x{width}. Leave {self.name} out for these images."
            )


def check_pairs(metric: str, references: Sequence[object], decoded: Sequence[object]) -> None:
    """Refuse anything but pairs of equal-shaped HxWx3 uint8 arrays, naming the metric."""
    if len(references) != len(decoded):
        raise ValueError(
            f"{metric}: {len(references)} reference images but {len(decoded)} decoded images"
        )
    for i, pair in enumerate(zip(references, decoded, strict=True)):
        for role, image in zip(("reference", "decoded"), pair, strict=True):
            if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
                got = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
                raise TypeError(
                    f"{metric}: {role} image {i} is {got}; expected a uint8 HxWx3 RGB array"
                    " (0-255), which the metric converts to its own input range"
                )
            if image.ndim != 3 or image.shape[2] != 3:
                raise ValueError(
                    f"{metric}: {role} image {i} has shape {image.shape}; expected HxWx3 RGB"
                )
        if pair[0].shape != pair[1].shape:
            raise ValueError(
                f"{metric}: pair {i} has reference shape {pair[0].shape} and decoded shape"
                f" {pair[1].shape}"
            )


def group_by(
    images: Sequence[np.ndarray], key: Callable[[np.ndarray], Hashable]
) -> list[list[int]]:
    """The indices of `images`, grouped by `key`, in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(key(image), []).append(i)
    return list(groups.values())

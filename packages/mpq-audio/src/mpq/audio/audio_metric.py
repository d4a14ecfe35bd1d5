"""What every audio metric shares: the input check and the per-pair computation.

Every metric takes pairs of `Audio` (float32 samples in [-1, 1], (channels, samples), with their
rate) of equal shape and rate, converts them itself to the range its implementation documents and
returns one float per pair; anything else is refused, so a caller cannot feed the wrong range (a
[-1, 1] signal given to CDPAM, which expects int16-scale values, would silently give a wrong
number). numpy only: the sample-wise metrics (`sample_metrics`) run in codec workers, which must
not import torch.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from mpq.audio.signal import Audio
from mpq.core.metric import Metric


class AudioMetric(Metric):
    """Validates pairs of `Audio` and computes one value per pair."""

    modality = "audio"

    def compute(self, references: list[Audio], decoded: list[Audio]) -> list[float]:
        check_pairs(self.name, references, decoded)
        return [float(self._pair(r, d)) for r, d in zip(references, decoded, strict=True)]

    @abstractmethod
    def _pair(self, reference: Audio, decoded: Audio) -> float:
        """The metric of one validated pair."""


def check_pairs(metric: str, references: Sequence[object], decoded: Sequence[object]) -> None:
    """Refuse anything but pairs of `Audio` of equal shape and rate, naming the metric."""
    if len(references) != len(decoded):
        raise ValueError(f"{metric}: {len(references)} references but {len(decoded)} decoded")
    for i, pair in enumerate(zip(references, decoded, strict=True)):
        for role, audio in zip(("reference", "decoded"), pair, strict=True):
            if not isinstance(audio, Audio):
                raise TypeError(
                    f"{metric}: {role} item {i} is {type(audio).__name__}; expected"
                    " mpq.audio.signal.Audio (float32 (channels, samples) in [-1, 1] with its"
                    " sample rate), which the metric converts to its own input range"
                )
        ref, dec = pair
        if ref.shape != dec.shape or ref.sample_rate != dec.sample_rate:
            raise ValueError(
                f"{metric}: pair {i} has reference {ref.shape} at {ref.sample_rate} Hz and"
                f" decoded {dec.shape} at {dec.sample_rate} Hz"
            )

"""Music source separation with Demucs, scored by SDR the SiSEC 2018 way.

Per track, each stem's SDR is computed with museval (BSSEval v4) over 1 s windows without overlap
(window = hop = 1 s of the track's rate: 44100 samples for MUSDB18, SiSEC 2018's setting; the
task options `sdr_window` and `sdr_hop`, in seconds, change them); frames where the reference
stem is silent are NaN and ignored; the track's statistic for a stem is the median over its
frames. BSSEval v4's SDR projects an estimate on its own reference only (time-invariant 512-tap
filters), so each stem is evaluated alone: the values equal museval's joint evaluation of all
stems (as in its MUSDB evaluation) to rounding, several times faster. `sdr` is the mean over
stems of those per-track medians, and the reported SDR is the median of `sdr` over tracks (with a
labelled mean beside it). `si_sdr` is SI-SDR over the whole track, mean over channels and stems.
`sdr_vs_reference` measures agreement with the model's separation of the uncompressed mixture:
the same framewise SDR with that separation as the reference (inf where they are identical).

The mixture is separated as demucs' own `Separator` does: resampled to the model's rate (mono
duplicated to stereo), normalised by the mean and standard deviation of its channel mean,
chunked by `demucs.apply.apply_model` (split=True; `segment` seconds, `overlap`), and restored.
The stems come back at the mixture's rate, length and channel count. `shifts` defaults to 0
(demucs' command line uses 1): random time shifts would make compressed and uncompressed runs
differ by chance; when set, the shifts are drawn from a fixed seed per track.
"""

from __future__ import annotations

import contextlib
import math
import random
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from mpq.audio.sample_metrics import si_sdr
from mpq.audio.signal import Audio, load_audio
from mpq.core.errors import MpqError
from mpq.core.params import Param, parse_bool
from mpq.core.registry import PYTHON_PREFIX, load_python_path
from mpq.core.task import Item, Score, Stat, Task

MUSDB_PREFIX = "musdb:"
MUSDB_STEMS = ("drums", "bass", "other", "vocals")
SDR_WINDOW_S = 1.0
SHIFT_SEED = 0


@dataclass
class MusdbFolder:
    """A MUSDB18-HQ style folder: ROOT/SPLIT/<track>/mixture.wav and one WAV per stem."""

    root: Path
    split: str = "test"
    stems: tuple[str, ...] = MUSDB_STEMS

    @property
    def name(self) -> str:
        return f"{MUSDB_PREFIX}{self.root}"

    def tracks(self) -> list[Path]:
        folder = self.root / self.split
        if not folder.is_dir():
            raise MpqError(
                f"{folder}: no such folder; a MUSDB18-HQ dataset has {self.root}/{self.split}/"
                f"<track>/mixture.wav and {', '.join(s + '.wav' for s in self.stems)}."
            )
        return sorted(p for p in folder.iterdir() if p.is_dir())

    def __len__(self) -> int:
        return len(self.tracks())

    def __iter__(self) -> Iterator[Item]:
        for track in self.tracks():
            try:
                mixture = load_audio(track / "mixture.wav")
                stems = {stem: load_audio(track / f"{stem}.wav") for stem in self.stems}
            except MpqError as error:
                yield Item(track.name, error=str(error))
                continue
            bad = [s for s, a in stems.items() if (a.shape, a.sample_rate) != _form(mixture)]
            if bad:
                yield Item(
                    track.name,
                    error=f"stems {bad} differ in shape or rate from the mixture {_form(mixture)}",
                )
                continue
            yield Item(track.name, mixture, stems)


class SourceSeparation(Task):
    """A Demucs model on MUSDB18-style tracks, scored by SDR and SI-SDR per stem."""

    libraries = ("mpq-audio", "torch", "torchaudio", "demucs", "museval")

    name = "source-separation"
    modality = "audio"
    scores: ClassVar[dict[str, Score]] = {
        "sdr": Score("median", ("sdr",), "SDR, median over tracks of framewise medians (SiSEC)"),
        "sdr_mean": Score("mean", ("sdr",), "SDR, mean over tracks"),
        "si_sdr": Score("mean", ("si_sdr",), "SI-SDR"),
        "sdr_vs_reference": Score(
            "median",
            ("sdr_vs_reference",),
            "SDR of the separation against the uncompressed mixture's, median over tracks",
            agreement=True,
        ),
    }

    parameters = (
        Param("segment", float, None, low=0.0, help="seconds per chunk (auto: the model's own)"),
        Param("overlap", float, 0.25, low=0.0, high=0.99, help="overlap of chunks, as demucs"),
        Param("shifts", int, 0, low=0, help="random time shifts averaged (seeded per track)"),
        Param("sdr_window", float, SDR_WINDOW_S, low=0.01, help="seconds per SDR frame"),
        Param("sdr_hop", float, None, low=0.01, help="seconds between SDR frames (auto: window)"),
    )

    def __init__(
        self,
        model: str = "htdemucs",
        dataset: str | Any = "",
        split: str = "test",
        trust_remote_code: bool | str = False,
        **options: Any,
    ) -> None:
        values = self.parse_options(options)
        self.model_spec = str(model)
        self.split = str(split)
        self.segment = values["segment"] or None
        self.overlap = values["overlap"]
        self.shifts = values["shifts"]
        self.sdr_window = values["sdr_window"]
        self.sdr_hop = values["sdr_hop"] or self.sdr_window
        self.trust_remote_code = parse_bool(trust_remote_code, "trust_remote_code")
        if isinstance(dataset, str):
            if not dataset.startswith(MUSDB_PREFIX):
                raise MpqError(
                    f"dataset {dataset!r}: write 'musdb:PATH' for a MUSDB18-HQ folder"
                    " (PATH/test/<track>/mixture.wav, drums.wav, bass.wav, other.wav, vocals.wav)."
                )
            self.dataset: Any = MusdbFolder(Path(dataset[len(MUSDB_PREFIX) :]), self.split)
        else:
            self.dataset = dataset
        self.model: Any = None
        self.device = "cpu"

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model_spec,
            "dataset": getattr(self.dataset, "name", type(self.dataset).__name__),
            "split": self.split,
            "segment": self.segment,
            "overlap": self.overlap,
            "shifts": self.shifts,
            "sdr_window_s": self.sdr_window,
            "sdr_hop_s": self.sdr_hop,
        }

    def count(self) -> int | None:
        return len(self.dataset) if hasattr(self.dataset, "__len__") else None

    def items(self) -> Iterator[Item]:
        yield from self.dataset

    def setup(self, device: str, amp: bool) -> None:
        model = load_separator(self.model_spec, self.trust_remote_code)
        for attribute in ("sources", "samplerate", "audio_channels"):
            if not hasattr(model, attribute):
                raise MpqError(
                    f"model {self.model_spec!r} has no .{attribute}; expected a demucs model"
                    " (Demucs, HDemucs, HTDemucs or a BagOfModels)."
                )
        self.model, self.device = model.eval().to(device), device

    def predict(self, batch: list[Audio]) -> list[dict[str, np.ndarray]]:
        """Stem name -> float32 (channels, samples) at each mixture's rate and length."""
        if self.model is None:
            raise MpqError("call setup(device, amp) before predict.")
        return [self._separate(mixture) for mixture in batch]

    def _separate(self, mixture: Audio) -> dict[str, np.ndarray]:
        from demucs.apply import apply_model
        from torchaudio.functional import resample

        if not isinstance(mixture, Audio):
            raise TypeError(f"{self.name}: expected an Audio mixture, got {type(mixture)}")
        channels, rate = self.model.audio_channels, int(self.model.samplerate)
        wav = torch.from_numpy(np.ascontiguousarray(mixture.samples))
        if mixture.channels == 1:
            wav = wav.expand(channels, -1)
        elif mixture.channels != channels:
            raise MpqError(
                f"the model separates {channels}-channel audio; the mixture has"
                f" {mixture.channels} channels."
            )
        wav = resample(wav, mixture.sample_rate, rate) if mixture.sample_rate != rate else wav
        ref = wav.mean(0)
        mean, std = ref.mean(), ref.std() + 1e-8
        with _seeded(SHIFT_SEED), torch.inference_mode():
            out = apply_model(
                self.model,
                ((wav - mean) / std)[None],
                shifts=self.shifts,
                split=True,
                overlap=self.overlap,
                segment=self.segment,
                device=self.device,
            )
        stems = (out[0] * std + mean).cpu().float()
        if mixture.sample_rate != rate:
            stems = resample(stems, rate, mixture.sample_rate)
        stems = _fit_length(stems, mixture.length)
        if mixture.channels == 1:
            stems = stems.mean(dim=1, keepdim=True)
        return {
            source: np.ascontiguousarray(stems[i].numpy(), dtype=np.float32)
            for i, source in enumerate(self.model.sources)
        }

    def score(
        self,
        item: Item,
        prediction: dict[str, np.ndarray],
        reference_prediction: dict[str, np.ndarray],
    ) -> dict[str, Stat]:
        targets: dict[str, Audio] = item.target
        missing = [stem for stem in targets if stem not in prediction]
        if missing:
            raise MpqError(
                f"the model produces {sorted(prediction)}; the dataset's stems {missing} are not"
                " among them."
            )
        stems = list(targets)
        rate = item.data.sample_rate
        truth = [targets[s].samples for s in stems]
        estimate = [prediction[s] for s in stems]
        medians = framewise_sdr_medians(truth, estimate, rate, self.sdr_window, self.sdr_hop)
        stats: dict[str, Stat] = {f"sdr_{s}": m for s, m in zip(stems, medians, strict=True)}
        stats["sdr"] = _mean_of_defined(medians)
        stats["si_sdr"] = _mean_of_defined(
            [float(np.mean(si_sdr(t, e))) for t, e in zip(truth, estimate, strict=True)]
        )
        reference = [reference_prediction[s] for s in stems]
        if all(np.array_equal(r, e) for r, e in zip(reference, estimate, strict=True)):
            stats["sdr_vs_reference"] = math.inf
        else:
            stats["sdr_vs_reference"] = _mean_of_defined(
                framewise_sdr_medians(reference, estimate, rate, self.sdr_window, self.sdr_hop)
            )
        return stats

    def prediction_json(self, prediction: Any) -> None:
        return None


def framewise_sdr_medians(
    references: list[np.ndarray],
    estimates: list[np.ndarray],
    sample_rate: int,
    window_s: float = SDR_WINDOW_S,
    hop_s: float = SDR_WINDOW_S,
) -> list[float]:
    """Per source, the median over frames (NaN frames ignored) of museval's v4 SDR.

    Frames are `window_s` long every `hop_s` seconds: SiSEC 2018 used 1 s and 1 s; some studies
    use 2 s windows with a 1.5 s hop.

    `references` and `estimates` are (channels, samples) arrays, one per source, each evaluated
    alone (see the module docstring). A source whose every frame is NaN (a silent reference) gets
    NaN.
    """
    import museval

    window, hop = round(window_s * sample_rate), round(hop_s * sample_rate)
    medians = []
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        for reference, estimate in zip(references, estimates, strict=True):
            sdr, _, _, _ = museval.evaluate(
                reference.T[None].astype(np.float64),
                estimate.T[None].astype(np.float64),
                win=window,
                hop=hop,
            )
            medians.append(float(np.nanmedian(sdr[0])))
    return medians


def load_separator(spec: str, trust_remote_code: bool = False) -> Any:
    """The demucs model `spec` names: python:module:factory, a local file or folder, or a name.

    A `.safetensors` file holds the model class and arguments in its metadata (demucs' hub
    format); only demucs classes are accepted. `.th` files and model folders are pickles that
    can run code when loaded, so they need trust_remote_code=True. Any other spec is a demucs
    pretrained name (htdemucs, hdemucs_mmi, ...), which demucs downloads and caches.
    """
    if spec.startswith(PYTHON_PREFIX):
        factory = load_python_path(spec[len(PYTHON_PREFIX) :], "model factory")
        if not callable(factory):
            raise MpqError(f"model {spec!r} is not callable; name a function that builds it.")
        return factory()
    path = Path(spec)
    if path.suffix == ".safetensors" and path.is_file():
        return _load_safetensors(path)
    if path.exists():
        if not trust_remote_code:
            raise MpqError(
                f"model {spec!r} is a pickled demucs checkpoint, and loading it can run code"
                " stored in it. Pass trust_remote_code=true if you trust the file, or save the"
                " model as .safetensors."
            )
        return _load_pickled(path)
    return _load_pretrained(spec)


def _load_safetensors(path: Path) -> Any:
    from demucs.hf import load_safetensors_model
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as file:
        klass = (file.metadata() or {}).get("klass", "")
    if not klass.startswith("demucs."):
        raise MpqError(
            f"{path}: metadata names model class {klass!r}; expected a demucs class such as"
            " 'demucs.htdemucs.HTDemucs'."
        )
    return load_safetensors_model(path)


def _load_pickled(path: Path) -> Any:
    from demucs.pretrained import get_model
    from demucs.states import load_model

    if path.is_file():
        return load_model(path)
    names = sorted({p.stem for p in path.glob("*.yaml")} or {p.stem for p in path.glob("*.th")})
    if len(names) != 1:
        raise MpqError(
            f"{path}: expected one demucs model (a .yaml bag or one .th file) in the folder,"
            f" found {names or 'none'}; name the file instead."
        )
    return get_model(names[0].split("-")[0], repo=path)


def _load_pretrained(name: str) -> Any:
    from demucs.pretrained import get_model

    try:
        return get_model(name)
    except Exception as error:
        raise MpqError(
            f"cannot load demucs pretrained model {name!r} ({type(error).__name__}: {error})."
            " Pretrained weights are downloaded from the Hugging Face hub (adefossez/...) or"
            " dl.fbaipublicfiles.com and cached; without network access, download them once"
            " where they are reachable, or pass a local .safetensors file, a .th file or folder"
            " (with trust_remote_code=true) or python:module:factory."
        ) from error


def _mean_of_defined(values: Iterable[float]) -> float:
    """Mean over the finite-or-infinite values, skipping NaN (a silent stem); NaN if none."""
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else math.nan


def _fit_length(stems: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or zero-pad the last axis to `length` (resampling may round it by a sample)."""
    if stems.shape[-1] >= length:
        return stems[..., :length]
    return torch.nn.functional.pad(stems, (0, length - stems.shape[-1]))


def _form(audio: Audio) -> tuple[tuple[int, int], int]:
    return audio.shape, audio.sample_rate


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """demucs draws its time shifts from Python's `random`; fix them, then restore the state."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)

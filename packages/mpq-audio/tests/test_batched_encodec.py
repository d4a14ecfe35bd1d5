"""EnCodec through the batch API: one clip at a time, so each clip's bytes are its own."""

import numpy as np

from mpq.audio.codecs.encodec import EnCodec
from mpq.audio.signal import Audio
from mpq.core.codec import Setting, apply_setting, apply_setting_batch


def test_a_batch_of_clips_codes_each_clip_as_alone():
    rng = np.random.default_rng(0)
    clips = [
        Audio((0.1 * rng.standard_normal((channels, length))).astype(np.float32), rate)
        for channels, length, rate in [(1, 4800, 24000), (2, 3000, 16000), (1, 4800, 24000)]
    ]
    setting = Setting("encodec", (("pretrained", False), ("bandwidth", 3.0)))
    assert not EnCodec.batches
    batched = apply_setting_batch(EnCodec, setting, clips)
    for clip, result in zip(clips, batched, strict=True):
        alone = apply_setting(EnCodec, setting, clip)
        assert result.bitstream.payload == alone.bitstream.payload
        assert np.array_equal(result.decoded.samples, alone.decoded.samples)
        assert result.decoded.samples.shape == clip.samples.shape

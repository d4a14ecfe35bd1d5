"""MS-ILLM (Muckley et al. 2023, neuralcompression 0.3): Meta's learned image codec, entropy-coded.

Rate counts the bytes a decoder needs: a 4-byte header with the original height and width (the
decoder derives the padded size, a multiple of 64, from them), the 4-byte length of the
hyper-latent string, then the hyper-latent string (CompressAI's EntropyBottleneck) and the latent
string (its GaussianConditional), exactly the strings `HiFiCAutoencoder.compress` returns.
Nothing is estimated from likelihoods. The model pads by reflection to a multiple of 64 and crops
the decoded image back, so bits per pixel divide by the original pixels. It runs on the CPU,
where its entropy coder must run (`compress` refuses other devices by default).

`quality` 1-6 picks one of the six released models (trained for 0.035, 0.07, 0.14, 0.3, 0.45
and 0.9 bpp; the rate a model gives depends on the image). Weights: `pretrained=true` loads the
released state dict from Meta's host through torch hub's cache, as neuralcompression's
`msillm_quality_N(pretrained=True)` does (the weights are CC-BY-NC 4.0); offline, put the file
in that cache or pass `checkpoint=PATH` to a local state dict for the same architecture, loaded
with `weights_only=True`; `pretrained=false` builds random weights (for tests).
"""

from __future__ import annotations

import functools
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mpq.core.codec import Codec, Param
from mpq.core.errors import MpqError, ParameterError
from mpq.core.rate import Bitstream, ImageExtent
from mpq.core.weights import seeded, state_dict_from_url
from mpq.image.data import check_image

WEIGHTS = ("0.035bpp", "0.07bpp", "0.14bpp", "0.3bpp", "0.45bpp", "0.9bpp")
URL = "https://dl.fbaipublicfiles.com/NeuralCompression/2023-muckley-msillm/msillm_target_{}.ckpt"
FACTOR = 64
_HEADER = struct.Struct(">HHI")  # original height, width; hyper-latent string length


class MSILLM(Codec):
    name = "msillm"
    modality = "image"
    description = "MS-ILLM learned codec (neuralcompression's HiFiCAutoencoder), entropy-coded"
    parameters = (
        Param("quality", int, 3, low=1, high=6, rate=+1, help="released model 1-6"),
        Param("pretrained", bool, True, help="false: random weights"),
        Param("checkpoint", str, "", help="local state dict instead of the released one"),
    )

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self._model: Any = None

    def setup(self) -> None:
        self._model = load_model(
            self.values["quality"], self.values["pretrained"], self.values["checkpoint"]
        )

    def encode(self, data: np.ndarray) -> Bitstream:
        height, width = check_image(data, self.name)
        x = torch.from_numpy(np.ascontiguousarray(data)).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            out = self._loaded().compress(x)
        hyper, latent = out.hyper_latent_strings[0], out.latent_strings[0]
        return Bitstream(
            _HEADER.pack(height, width, len(hyper)) + hyper + latent,
            ImageExtent(height, width, 3),
        )

    def decode(self, bitstream: Bitstream) -> np.ndarray:
        from neuralcompression import HyperpriorCompressedOutput

        payload = bitstream.payload
        if len(payload) < _HEADER.size:
            raise MpqError("msillm: the payload is shorter than its header.")
        height, width, hyper_length = _HEADER.unpack_from(payload)
        hyper = payload[_HEADER.size : _HEADER.size + hyper_length]
        latent = payload[_HEADER.size + hyper_length :]
        padded = (height + -height % FACTOR, width + -width % FACTOR)
        compressed = HyperpriorCompressedOutput([latent], [hyper], (height, width), padded)
        with torch.inference_mode():
            x_hat = self._loaded().decompress(compressed)
        image = x_hat[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
        return np.ascontiguousarray(image.numpy())

    def _loaded(self) -> Any:
        if self._model is None:
            self.setup()
        return self._model


@functools.lru_cache(maxsize=2)
def load_model(quality: int, pretrained: bool, checkpoint: str) -> Any:
    """The model once per process, entropy coders updated, in eval mode."""
    try:
        from neuralcompression.models import HiFiCAutoencoder
    except ImportError:
        raise MpqError(
            "msillm needs neuralcompression: pip install 'mpq-image[msillm]'"
            " (with -c constraints.txt)."
        ) from None
    # Random weights are seeded (without touching the caller's random state), so that every
    # process builds the same model and decodes what another encoded.
    with seeded(quality):
        model = HiFiCAutoencoder()
    if checkpoint:
        if not Path(checkpoint).is_file():
            raise ParameterError(f"msillm: checkpoint={checkpoint!r} is not a file.")
        model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    elif pretrained:
        url = URL.format(WEIGHTS[quality - 1])
        state = state_dict_from_url(
            url, f"msillm quality {quality}", "checkpoint=/path/to/state_dict"
        )
        model.load_state_dict(state)
    model.eval()
    model.update(force=True)
    return model

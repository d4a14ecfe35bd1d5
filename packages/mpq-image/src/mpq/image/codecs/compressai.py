"""Learned image codecs of the CompressAI zoo, with real entropy coding.

Rate counts the bytes a decoder needs: the entropy-coded strings from `compress()` plus a header
holding the original height and width (to crop the padding away), the latent shape and each
string's length. Nothing is estimated from likelihoods. Images are zero-padded symmetrically to a
multiple of 64, as CompressAI's own evaluation does, and decoded images are cropped back to the
original size, so bits per pixel always divide by the original pixels.

Weights: `pretrained=true` (default) loads the published checkpoint of the architecture, metric and
quality from CompressAI's model host into torch's hub cache; `checkpoint=PATH` loads a local state
dict instead (with `weights_only=True`); `pretrained=false` builds the architecture with random
weights drawn from `seed` (for tests), the same weights in every process and run. Models run on
the CPU by default: the autoregressive context models (mbt2018, cheng2020-*) are slow and not
bit-exact between encoder and decoder on a GPU.

Batches: the factorized and hyperprior families code many images in one forward per padded shape
(`encode_batch`, `decode_batch`). CompressAI entropy-codes each batch element on its own
(`EntropyModel.compress` loops over the batch, one string per element, compressai 1.2.8
entropy_models.py), and on the CPU the networks give the same floats for a batch as for its items
alone (checked in the tests), so every item's payload and decoded image are those of `encode` and
`decode`. `device=auto` (cuda when present, else cpu) is the default only for
bmshj2018-factorized, whose decoder needs no network output to entropy-decode: a hyperprior's
decoder must recompute the encoder's scale indexes from the side information exactly, which GPU
convolutions do not promise across batch sizes (CompressAI issue 54: corrupted decodes on CUDA),
so the hyperprior models stay on the cpu unless asked. On cuda, batch-for-item identity is
what the `gpu` test checks; it is not assumed.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from mpq.core.codec import CODEC_DEVICES, Codec, Param, batch_groups
from mpq.core.errors import MpqError
from mpq.core.rate import Bitstream, ImageExtent
from mpq.core.weights import seeded, state_dict_from_url
from mpq.image.data import check_image

PAD_MULTIPLE = 64
_HEADER = struct.Struct("<HHHHB")  # original h, w; latent h, w; number of strings
_LENGTH = struct.Struct("<I")


class CompressAICodec(Codec):
    """One zoo architecture; subclasses give its zoo name and quality range."""

    libraries = ("mpq-image", "compressai", "torch")

    modality = "image"
    version = "1"
    architecture: ClassVar[str]
    max_quality: ClassVar[int] = 8
    default_device: ClassVar[str] = "cpu"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.parameters = (
            Param("quality", int, 1, low=1, high=cls.max_quality, rate=+1, help="zoo quality"),
            Param("metric", str, "mse", choices=("mse", "ms-ssim"), help="training objective"),
            Param("pretrained", bool, True, help="load the published weights"),
            Param("checkpoint", str, "", help="local state dict instead of the published one"),
            Param(
                "device", str, cls.default_device, choices=CODEC_DEVICES,
                help="where the model runs (auto: cuda when present, else cpu)",
            ),
            Param("seed", int, 0, low=0, high=2**31 - 1, help="random weights' seed"),
        )  # fmt: skip

    def setup(self) -> None:
        self.net = self._load().to(self.device).eval()

    def values_for(self, data: np.ndarray) -> dict[str, Any]:
        """`device=auto` recorded as the device that ran: its bytes may differ from the CPU's."""
        return {**self.values, "device": self.device}

    def _load(self) -> Any:
        try:
            from compressai.zoo import image as zoo
            from compressai.zoo.pretrained import load_pretrained
        except ImportError:
            raise MpqError(
                f"codec {self.name!r} needs CompressAI: pip install 'mpq-image[compressai]'."
            ) from None

        arch = zoo.model_architectures[self.architecture]
        quality, metric = self.values["quality"], self.values["metric"]
        if self.values["checkpoint"]:
            path = Path(self.values["checkpoint"])
            if not path.is_file():
                raise MpqError(f"{self.name}: checkpoint {path} does not exist.")
            state = torch.load(path, map_location="cpu", weights_only=True)
            net = arch.from_state_dict(load_pretrained(state.get("state_dict", state)))
            net.update()
            return net
        if not self.values["pretrained"]:
            # Its own generator state: the weights do not depend on what ran before in this
            # process (which model a codec worker set up first, say).
            with seeded(self.values["seed"], devices=[]):
                net = arch(*zoo.cfgs[self.architecture][quality])
            net.update(force=True)
            return net
        url = zoo.model_urls[self.architecture][metric][quality]
        state = state_dict_from_url(
            url, f"{self.name} quality {quality} ({metric})", "checkpoint=/path/to/weights.pth.tar"
        )
        return arch.from_state_dict(load_pretrained(state))

    def encode(self, data: np.ndarray) -> Bitstream:
        return self.encode_batch([data])[0]

    def decode(self, bitstream: Bitstream) -> np.ndarray:
        return self.decode_batch([bitstream])[0]

    def encode_batch(self, items: list[np.ndarray]) -> list[Bitstream]:
        """One `compress` per padded shape; element i's strings are item i's whole payload."""
        sizes = [check_image(data, self.name) for data in items]
        padded = [_padded_size(height, width) for height, width in sizes]
        out: dict[int, Bitstream] = {}
        for group in batch_groups(padded):
            x = torch.stack([_padded_tensor(items[i], *sizes[i]) for i in group])
            with torch.inference_mode():
                coded = self.net.compress(x.to(self.device))
            latent_h, latent_w = coded["shape"]
            for row, i in enumerate(group):
                strings = [s[row] for s in coded["strings"]]
                header = _HEADER.pack(*sizes[i], latent_h, latent_w, len(strings))
                body = b"".join(_LENGTH.pack(len(s)) + s for s in strings)
                out[i] = Bitstream(header + body, ImageExtent(*sizes[i], 3))
        return [out[i] for i in range(len(items))]

    def decode_batch(self, bitstreams: list[Bitstream]) -> list[np.ndarray]:
        """One `decompress` per latent shape, each image cropped by its own header."""
        parsed = [_parse(bitstream.payload) for bitstream in bitstreams]
        out: dict[int, np.ndarray] = {}
        for group in batch_groups([(p[2], p[3], len(p[4])) for p in parsed]):
            _, _, latent_h, latent_w, first = parsed[group[0]]
            strings = [[parsed[i][4][k] for i in group] for k in range(len(first))]
            with torch.inference_mode():
                x_hat = self.net.decompress(strings, (latent_h, latent_w))["x_hat"]
            for row, i in enumerate(group):
                height, width = parsed[i][:2]
                left, _, top, _ = _padding(height, width)
                crop = x_hat[row, :, top : top + height, left : left + width]
                image = crop.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0)
                out[i] = np.ascontiguousarray(image.cpu().numpy())
        return [out[i] for i in range(len(bitstreams))]


def _padded_tensor(data: np.ndarray, height: int, width: int) -> torch.Tensor:
    """CHW floats in [0, 1], zero-padded to a multiple of 64."""
    x = torch.from_numpy(data).permute(2, 0, 1).float().div(255)
    return F.pad(x, _padding(height, width))


def _padded_size(height: int, width: int) -> tuple[int, int]:
    return height + -height % PAD_MULTIPLE, width + -width % PAD_MULTIPLE


def _parse(payload: bytes) -> tuple[int, int, int, int, list[bytes]]:
    """(height, width, latent height, latent width, strings) from a payload."""
    height, width, latent_h, latent_w, count = _HEADER.unpack_from(payload)
    offset, strings = _HEADER.size, []
    for _ in range(count):
        (length,) = _LENGTH.unpack_from(payload, offset)
        offset += _LENGTH.size
        strings.append(payload[offset : offset + length])
        offset += length
    return height, width, latent_h, latent_w, strings


def _padding(height: int, width: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding up to a multiple of 64, split evenly."""
    pad_h = -height % PAD_MULTIPLE
    pad_w = -width % PAD_MULTIPLE
    return (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)


class Bmshj2018Factorized(CompressAICodec):
    name = "bmshj2018-factorized"
    architecture = "bmshj2018-factorized"
    batches = True
    default_device = "auto"
    description = "factorized prior (Balle et al. 2018)"


class Bmshj2018Hyperprior(CompressAICodec):
    name = "bmshj2018-hyperprior"
    architecture = "bmshj2018-hyperprior"
    batches = True
    description = "scale hyperprior (Balle et al. 2018)"


class Mbt2018Mean(CompressAICodec):
    name = "mbt2018-mean"
    architecture = "mbt2018-mean"
    batches = True
    description = "mean-scale hyperprior (Minnen et al. 2018)"


class Mbt2018(CompressAICodec):
    name = "mbt2018"
    architecture = "mbt2018"
    description = "joint autoregressive and hierarchical priors (Minnen et al. 2018)"


class Cheng2020Anchor(CompressAICodec):
    name = "cheng2020-anchor"
    architecture = "cheng2020-anchor"
    max_quality = 6
    description = "residual blocks + autoregressive prior (Cheng et al. 2020)"


class Cheng2020Attention(CompressAICodec):
    name = "cheng2020-attn"
    architecture = "cheng2020-attn"
    max_quality = 6
    description = "Cheng et al. 2020 with attention modules"

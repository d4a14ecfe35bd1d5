"""Deep full-reference image metrics: LPIPS, DISTS and ST-LPIPS, batched on the model's device.

Pairs of equal shape are computed as one batch, with autocast off so that values do not depend on
mixed precision. (PSNR, SSIM and MS-SSIM need no network: see `pixel_metrics`.)

LPIPS and DISTS need torchvision's ImageNet VGG/AlexNet weights, which torch downloads into its hub
cache on first use; without internet access setup() says which file to put where.
ST-LPIPS ships its complete networks and runs offline.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

import numpy as np
import torch

from mpq.core.errors import MpqError
from mpq.core.hashing import content_hash
from mpq.image.image_metric import ImageMetric, check_pairs, group_by


class _DeepMetric(ImageMetric):
    """A network built and loaded by setup(), fed (N, 3, H, W) uint8 tensors on its device; lower
    is better (a distance)."""

    libraries = ("mpq-image", "torch", "piq", "lpips", "stlpips-pytorch")
    higher_is_better = False

    def __init__(self) -> None:
        super().__init__()
        self.model: torch.nn.Module | None = None

    def setup(self, device: str) -> None:
        super().setup(device)
        with warnings.catch_warnings():
            # lpips and piq still pass torchvision's deprecated `pretrained` flag.
            warnings.filterwarnings("ignore", ".*deprecated since 0.13", UserWarning)
            model = self._load()
        self.model = model.to(device).eval().requires_grad_(False)

    def compute(self, references: list[np.ndarray], decoded: list[np.ndarray]) -> list[float]:
        """The pairs of one shape as one batch."""
        check_pairs(self.name, references, decoded)
        if self.model is None:
            raise RuntimeError(f"{self.name}: call setup(device) before compute()")
        values = [math.nan] * len(references)
        for indices in group_by(references, lambda image: image.shape):
            self.check_size(references[indices[0]])
            ref = _to_tensor([references[i] for i in indices], self.device)
            dec = _to_tensor([decoded[i] for i in indices], self.device)
            with torch.inference_mode(), _no_autocast(self.device):
                batch = self._distance(self.model, ref, dec).flatten().cpu().tolist()
            for i, value in zip(indices, batch, strict=True):
                values[i] = float(value)
        return values

    @abstractmethod
    def _load(self) -> torch.nn.Module:
        """The network with its weights, on the CPU."""

    @abstractmethod
    def _distance(
        self, model: torch.nn.Module, references: torch.Tensor, decoded: torch.Tensor
    ) -> torch.Tensor:
        """One distance per pair of uint8 (N, 3, H, W) tensors."""


class _FeatureDistance(_DeepMetric):
    """The LPIPS distance of lpips.LPIPS and stlpips' LPIPS (lpips=True, spatial=False), fed
    [-1, 1]: each image's network features, unit-normalised along the channels, squared
    differences weighted by the linear layers, averaged over positions, summed over layers.

    That is the libraries' own forward (lpips/lpips.py, stlpips_pytorch/stlpips.py), split so
    that an original's features are computed once for all its decoded versions: those of one
    call, and those of the last REMEMBERED originals, found by content hash (a sweep measures
    an item's settings in several batches), as long as they hold no more than REMEMBERED_BYTES
    (VGG16's features of a 1024 px image take 0.5 GB). Equal to the libraries' values
    (test_metrics).
    """

    remembered: ClassVar[int] = 8
    remembered_bytes: ClassVar[int] = 2**30

    def __init__(self) -> None:
        super().__init__()
        self._originals: OrderedDict[str, list[torch.Tensor]] = OrderedDict()

    def _distance(
        self, model: torch.nn.Module, references: torch.Tensor, decoded: torch.Tensor
    ) -> torch.Tensor:
        keys = [content_hash(reference.cpu().numpy()) for reference in references]
        new = [key for key in dict.fromkeys(keys) if key not in self._originals]
        if new:
            rows = [keys.index(key) for key in new]
            computed = _lpips_features(model, references[rows])
            for j, key in enumerate(new):
                self._originals[key] = [layer[j : j + 1] for layer in computed]
        for key in keys:
            self._originals.move_to_end(key)
        originals = [torch.cat([self._originals[key][k] for key in keys]) for k in range(model.L)]
        while len(self._originals) > len(set(keys)) and (
            len(self._originals) > self.remembered
            or sum(_nbytes(layers) for layers in self._originals.values()) > self.remembered_bytes
        ):
            self._originals.popitem(last=False)
        features = _lpips_features(model, decoded)
        distance = 0
        for k in range(model.L):
            distance += model.lins[k]((features[k] - originals[k]) ** 2).mean([2, 3], keepdim=True)
        return distance


def _nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)


def _lpips_features(model: torch.nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """The network's layer outputs for uint8 images, each unit-normalised along the channels as
    the libraries' normalize_tensor does (eps 1e-10); scaled first as version 0.1 does."""
    signed = _signed(images)
    layers = model.net.forward(model.scaling_layer(signed) if model.version == "0.1" else signed)
    return [
        layer / (torch.sqrt(torch.sum(layer**2, dim=1, keepdim=True)) + 1e-10) for layer in layers
    ]


# torchvision's ImageNet checkpoints (AlexNet_Weights / VGG16_Weights.IMAGENET1K_V1), named here so
# that importing this module does not import torchvision, lpips or piq (seconds per process).
ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"


class _LPIPS(_FeatureDistance):
    """LPIPS v0.1 (Zhang et al. 2018) by the lpips package, fed [-1, 1] as its API documents.

    The backbone is torchvision's ImageNet network (downloaded into torch's hub cache) and the
    linear layers are the ones the lpips wheel ships; both are loaded here as plain tensors
    (weights_only) and every parameter must be filled, so a partial load cannot go unnoticed.
    """

    net: ClassVar[str]
    backbone_url: ClassVar[str]  # torchvision's ImageNet weights for the backbone
    input_range = "uint8 RGB, converted to float in [-1, 1] (x / 127.5 - 1) for lpips.LPIPS"

    def _load(self) -> torch.nn.Module:
        import lpips

        (backbone,) = _download(self.name, self.backbone_url)
        model = lpips.LPIPS(pretrained=False, net=self.net, pnet_rand=True, verbose=False)
        # lpips cuts torchvision's `features` into slices keeping the layer indices as names.
        state = {
            f"net.{key}": backbone[f"features.{key.split('.', 1)[1]}"]
            for key in model.net.state_dict()
        }
        linear = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{self.net}.pth"
        state.update(torch.load(linear, map_location="cpu", weights_only=True))
        _load_all(self.name, model, state)
        return model


class LPIPSAlex(_LPIPS):
    """LPIPS with torchvision's ImageNet AlexNet: the fastest and, per its authors, the best
    forward metric."""

    name = "lpips-alex"
    description = "LPIPS v0.1 distance, AlexNet backbone"
    net = "alex"
    backbone_url = ALEXNET_URL
    min_side = 31


class LPIPSVGG(_LPIPS):
    """LPIPS with torchvision's ImageNet VGG16."""

    name = "lpips-vgg"
    description = "LPIPS v0.1 distance, VGG16 backbone"
    net = "vgg"
    backbone_url = VGG16_URL
    min_side = 16


class DISTS(_DeepMetric):
    """DISTS (Ding et al. 2020) by piq, fed [0, 1]; piq normalises with ImageNet statistics.

    piq resizes images whose shorter side exceeds 256 pixels to 256 before the network, as the
    authors' example script does, but with torch's bilinear interpolation where the script uses
    PIL's antialiased resize. piq's values have been reported to follow the IQA_pytorch port of
    DISTS rather than the authors' DISTS_pytorch release (0.195 vs 0.164 on a goldhill JPEG pair):
    compare DISTS numbers only with piq's.
    """

    name = "dists"
    input_range = "uint8 RGB, converted to float in [0, 1] for piq.DISTS"
    description = "DISTS distance (piq), 1 - structure/texture similarity of VGG16 features"

    def _load(self) -> torch.nn.Module:
        import piq

        # piq.DISTS loads its alpha/beta file and torchvision's VGG16 itself, with
        # weights_only=False (its loader takes no such argument). Loading both here first as plain
        # tensors puts them into torch's hub cache and refuses a file that holds anything else.
        _download(self.name, VGG16_URL, piq.DISTS._weights_url)
        return piq.DISTS(reduction="none")

    def _distance(
        self, model: torch.nn.Module, references: torch.Tensor, decoded: torch.Tensor
    ) -> torch.Tensor:
        return model(_unit(decoded), _unit(references))


class STLPIPSAlex(_FeatureDistance):
    """Shift-tolerant LPIPS (Ghildyal & Liu 2022), AlexNet variant vST0.0, fed [-1, 1].

    Its anti-aliased backbone and linear layers ship complete in stlpips-pytorch, so it runs
    offline; they are loaded as plain tensors (weights_only) and every parameter must be filled.
    """

    name = "stlpips-alex"
    input_range = "uint8 RGB, converted to float in [-1, 1] (x / 127.5 - 1) for stlpips LPIPS"
    description = "shift-tolerant LPIPS distance, AlexNet, shipped weights vST0.0"
    min_side = 21

    def _load(self) -> torch.nn.Module:
        try:
            from stlpips_pytorch import stlpips
        except ImportError as error:
            raise MpqError(
                f"{self.name} needs stlpips-pytorch and its imports ({error});"
                " install them with: pip install 'mpq-image[offline-deep]'"
            ) from error
        model = stlpips.LPIPS(pretrained=False, net="alex", variant="shift_tolerant", verbose=False)
        weights = Path(stlpips.__file__).parent / "weights" / "vST0.0" / "alex_shift_tolerant.pth"
        _load_all(self.name, model, torch.load(weights, map_location="cpu", weights_only=True))
        return model


def _to_tensor(images: list[np.ndarray], device: str) -> torch.Tensor:
    """(N, 3, H, W) uint8 on `device`."""
    return torch.from_numpy(np.stack(images)).to(device).permute(0, 3, 1, 2).contiguous()


def _unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [0, 1]."""
    return images.float() / 255


def _signed(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [-1, 1]."""
    return images.float() / 127.5 - 1


@contextlib.contextmanager
def _no_autocast(device: str) -> Iterator[None]:
    """Full precision even inside a caller's autocast: metric values must not depend on --amp."""
    with torch.autocast(torch.device(device).type, enabled=False):
        yield


def _download(metric: str, *urls: str) -> list[dict[str, torch.Tensor]]:
    """Checkpoints from torch's hub cache, downloaded there if absent, as plain tensors."""
    states, failed = [], []
    for url in urls:
        try:
            states.append(
                torch.hub.load_state_dict_from_url(
                    url, map_location="cpu", progress=False, check_hash=True, weights_only=True
                )
            )
        except OSError as error:
            path = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name
            failed.append(f"{url} -> {path} ({error})")
    if failed:
        raise MpqError(
            f"{metric} needs weights that could not be downloaded. Download each file where the"
            " internet is reachable and copy it to the path shown (torch's hub cache:"
            " $TORCH_HOME/hub/checkpoints, by default ~/.cache/torch/hub/checkpoints):\n  "
            + "\n  ".join(failed)
        )
    return states


def _load_all(metric: str, model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load `state`, refusing any parameter it leaves out or any entry the model lacks.

    lpips-style models list their linear layers twice (lin0..lin4 and the alias list `lins`) and
    build their input scaling from constants, so only those keys may be absent.
    """
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [key for key in missing if not key.startswith(("lins.", "scaling_layer."))]
    if missing or unexpected:
        raise MpqError(
            f"{metric}: the weights do not fit the network (missing {missing}, unexpected"
            f" {unexpected}); reinstall the package that ships them."
        )

"""Full-reference image similarity metrics: PSNR, SSIM, MS-SSIM, LPIPS, DISTS and ST-LPIPS.

Every metric takes HxWx3 uint8 RGB arrays and converts them itself to the range its
implementation documents; anything else is refused, so a caller cannot feed the wrong range (a
0-255 float image given to LPIPS would silently produce a wrong number). Pairs of equal shape are
computed as one batch, with autocast off so that values do not depend on mixed precision.

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
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

import numpy as np
import torch

from mpq.core.errors import MpqError
from mpq.core.hashing import content_hash
from mpq.core.metric import Metric


class ImageTooSmallError(MpqError, ValueError):
    """An image below the smallest size a metric's windows or network can process."""


class _ImageMetric(Metric):
    """A metric of uint8 HxWx3 RGB pairs, one float per pair."""

    libraries = ("mpq-image", "torch", "piq", "lpips", "stlpips-pytorch")

    modality = "image"
    min_side: ClassVar[int] = 1

    def __init__(self) -> None:
        self.device = "cpu"

    def setup(self, device: str) -> None:
        self.device = device


class _TensorMetric(_ImageMetric):
    """Validates the pairs, batches them as (N, 3, H, W) uint8 tensors on the metric's device."""

    # True when every batch's pairs share one reference array (see _batches), which _batch then
    # gets once, as (1, 3, H, W).
    one_reference: ClassVar[bool] = False

    def compute(self, references: list[np.ndarray], decoded: list[np.ndarray]) -> list[float]:
        _check_pairs(self.name, references, decoded)
        values = [math.nan] * len(references)
        for indices in self._batches(references):
            height, width = references[indices[0]].shape[:2]
            if min(height, width) < self.min_side:
                raise ImageTooSmallError(
                    f"{self.name} needs images of at least {self.min_side}x{self.min_side} pixels;"
                    f" got {height}x{width}. Leave {self.name} out for these images."
                )
            rows = indices[:1] if self.one_reference else indices
            ref = _to_tensor([references[i] for i in rows], self.device)
            dec = _to_tensor([decoded[i] for i in indices], self.device)
            with torch.inference_mode(), _no_autocast(self.device):
                batch = self._batch(ref, dec).flatten().cpu().tolist()
            for i, value in zip(indices, batch, strict=True):
                values[i] = float(value)
        return values

    def _batches(self, references: Sequence[np.ndarray]) -> list[list[int]]:
        """The indices of the pairs computed together: all those of one shape."""
        return _group_by(references, lambda image: image.shape)

    @abstractmethod
    def _batch(self, references: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        """One value per pair of (N, 3, H, W) uint8 tensors on the metric's device."""


class PSNR(_ImageMetric):
    """Peak signal-to-noise ratio, 10 log10(255^2 / MSE), over R, G and B together (no luma).

    The MSE is exact: the squared errors are integers and their sum stays below 2**53 for any
    image under 10**11 values, so float64 adds them without rounding in any order (here as one
    dot product on the CPU, whatever the metric's device: it is cheaper than a transfer), and
    identical images give inf. It is the value piq.psnr gives on [0, 1] floats with
    data_range=1, except that piq adds 1e-8 to the MSE, which caps identical images at 80 dB and
    lowers near-lossless ones; hence the direct formula.
    """

    name = "psnr"
    higher_is_better = True
    beside_codec = True
    input_range = (
        "uint8 RGB; MSE of the 0-255 integer values with peak 255, the same as [0, 1] floats with"
        " data_range=1 (identical images: inf)"
    )
    description = "PSNR in dB over all RGB values; inf for identical images"

    def compute(self, references: list[np.ndarray], decoded: list[np.ndarray]) -> list[float]:
        _check_pairs(self.name, references, decoded)
        return [
            _psnr(reference, image) for reference, image in zip(references, decoded, strict=True)
        ]


def _psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    error = np.subtract(reference, decoded, dtype=np.float64).ravel()
    squared_error = float(error @ error)
    if squared_error == 0:
        return math.inf
    return 10 * math.log10(255.0**2 * error.size / squared_error)


class _StructuralMetric(_TensorMetric):
    """The SSIM family in float64, with piq.ssim's formula and a separable Gaussian filter.

    In float32 the local variances E[x^2] - E[x]^2 lose digits to cancellation: on flat bright
    regions SSIM moves by up to 4e-4, in the digits papers print. piq.ssim convolves with the full
    11x11 window, which torch runs slowly in float64 on the CPU; the Gaussian is separable, so
    _mean_ssim filters with 11 taps down the columns and then 11 along the rows (see _blur),
    which gives piq's values to within rounding (about 1e-14) many times faster.

    The pairs that share one reference array (an item's codec settings, say) are computed
    together, and the reference's own local means and E[y^2] once for all of them.
    """

    higher_is_better = True
    beside_codec = True
    one_reference = True

    def setup(self, device: str) -> None:
        # MPS has no float64; these metrics are cheap enough for the CPU.
        super().setup("cpu" if torch.device(device).type == "mps" else device)

    def _batches(self, references: Sequence[np.ndarray]) -> list[list[int]]:
        """The pairs of one reference array (the same object) together."""
        return _group_by(references, id)

    def _batch(self, references: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        return self._shared_reference(
            _unit(decoded, torch.float64), _unit(references, torch.float64)
        )

    @abstractmethod
    def _shared_reference(self, decoded: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """One value per image of `decoded` (N, 3, H, W) against `reference` (1, 3, H, W), both
        float64 in [0, 1]."""


class SSIM(_StructuralMetric):
    """SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data_range 1.

    Computed in float64 on each RGB channel over the valid region (no padding), averaged over the
    positions and then over the three channels (no luma conversion). The window is applied as two
    1-D passes (see _StructuralMetric); the value is piq.ssim's with downsample=False, up to
    rounding. piq's automatic downsampling by round(min(H, W) / 256) stays off so that every item
    gets the same formula whatever its size; the value then equals scikit-image's
    structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    channel_axis=-1, data_range=1) on [0, 1] floats.
    """

    name = "ssim"
    input_range = "uint8 RGB, converted to float64 in [0, 1] (data_range=1)"
    description = "SSIM, mean of the R, G and B channels' SSIM, no downsampling"
    min_side = 11

    def _shared_reference(self, decoded: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return _mean_ssim(decoded, reference).mean(dim=1)


class MSSSIM(_StructuralMetric):
    """MS-SSIM (Wang et al. 2003): 5 scales weighted 0.0448, 0.2856, 0.3001, 0.2363, 0.1333, each
    scale's mean contrast-structure term (luminance too at the coarsest) computed as SSIM is.

    Computed on each RGB channel and averaged over the three (no luma conversion), with negative
    terms clamped to 0, as TensorFlow's ssim_multiscale does. Between scales the images are halved
    as in the authors' msssim.m and TensorFlow: 2x2 means, an odd side first extended by repeating
    its last row or column. piq.multi_scale_ssim instead pads at the top left (both sides if either
    is odd), which shifts the sampling grid by a pixel: on odd-sized JPEG images its values moved
    by up to 0.01. The coarsest scale still needs an 11x11 window, so images must be at least
    (11 - 1) * 2**4 + 1 = 161 pixels on each side; smaller ones raise ImageTooSmallError.
    """

    name = "ms-ssim"
    input_range = "uint8 RGB, converted to float64 in [0, 1] (data_range=1)"
    description = "MS-SSIM, mean over R, G and B; needs at least 161x161 pixels"
    min_side = 161
    scale_weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

    def _shared_reference(self, decoded: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        x, y = decoded, reference
        terms = []
        for scale in range(len(self.scale_weights)):
            if scale:
                x, y = _halve(x), _halve(y)
            # Contrast-structure at every scale but the coarsest, which weighs luminance too.
            terms.append(_mean_ssim(x, y, luminance=scale == len(self.scale_weights) - 1))
        weights = torch.tensor(self.scale_weights, dtype=torch.float64, device=x.device)
        # (scale, N, channel): the product runs per channel, then the channels are averaged.
        per_channel = (torch.stack(terms).clamp(min=0) ** weights[:, None, None]).prod(dim=0)
        return per_channel.mean(dim=1)


class _DeepMetric(_TensorMetric):
    """A network built and loaded by setup(); lower is better (a distance)."""

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

    def _batch(self, references: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        if self.model is None:
            raise RuntimeError(f"{self.name}: call setup(device) before compute()")
        return self._distance(self.model, references, decoded)

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


def _check_pairs(metric: str, references: Sequence[object], decoded: Sequence[object]) -> None:
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


def _group_by(
    images: Sequence[np.ndarray], key: Callable[[np.ndarray], Hashable]
) -> list[list[int]]:
    """The indices of `images`, grouped by `key`, in order of first appearance."""
    groups: dict[Hashable, list[int]] = {}
    for i, image in enumerate(images):
        groups.setdefault(key(image), []).append(i)
    return list(groups.values())


def _to_tensor(images: list[np.ndarray], device: str) -> torch.Tensor:
    """(N, 3, H, W) uint8 on `device`."""
    return torch.from_numpy(np.stack(images)).to(device).permute(0, 3, 1, 2).contiguous()


def _unit(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 -> float in [0, 1]."""
    return images.to(dtype) / 255


def _gaussian_taps(size: int, sigma: float) -> tuple[float, ...]:
    """The normalised 1-D Gaussian whose outer product is piq's 2-D window (up to rounding)."""
    weights = [math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(size)]
    total = math.fsum(weights)
    return tuple(weight / total for weight in weights)


_GAUSSIAN_TAPS = _gaussian_taps(11, 1.5)
_SSIM_C1 = 0.01**2  # (K1 * data_range)^2, as piq computes it
_SSIM_C2 = 0.03**2  # (K2 * data_range)^2
# On the CPU, SSIM maps are computed this many output pixels at a time (rows of every plane):
# the ~40 float64 passes over them then stay in the cache (fewer, larger kernels suit a GPU).
_CPU_STRIP_PIXELS = 2**16
# The Gaussian is applied as a (BLOCK, BLOCK + 10) band matrix to blocks of BLOCK output rows or
# columns, one small matrix product each: 2 to 3 times faster in float64 on the CPU than the 11
# shifted multiply-adds, though the band holds zeros.
_BLUR_BLOCK = 32


def _mean_ssim(x: torch.Tensor, y: torch.Tensor, luminance: bool = True) -> torch.Tensor:
    """Mean SSIM of each (N, C) channel of two (N, C, H, W) float images, or with
    `luminance=False` their mean contrast-structure term; `y` may hold one image (1, C, H, W)
    for all of `x`.

    These are piq.ssim's values with data_range=1, downsample=False and full=True, up to rounding,
    before it averages them over the channels. On the CPU, strips of whole rows (with the window's
    10 extra input rows) are taken at a time; their sums are then divided by the number of valid
    positions, which is their mean up to rounding.
    """
    height, width = x.shape[-2:]
    margin = len(_GAUSSIAN_TAPS) - 1
    budget = _CPU_STRIP_PIXELS if x.device.type == "cpu" else x.numel()
    rows = max(1, budget // (x.shape[0] * x.shape[1] * width))
    total = x.new_zeros(x.shape[:2])
    for top in range(0, height - margin, rows):
        strip = (..., slice(top, top + rows + margin), slice(None))
        total += _ssim_map(x[strip], y[strip], luminance).sum(dim=(-1, -2))
    return total / ((height - margin) * (width - margin))


def _ssim_map(x: torch.Tensor, y: torch.Tensor, luminance: bool) -> torch.Tensor:
    """The SSIM map (or with `luminance=False` the contrast-structure map) of two (N, C, H, W)
    float images over the valid positions; `y` broadcasts against `x` (its local statistics are
    computed once).

    piq.ssim's formula with data_range=1: the local means, variances E[x^2] - E[x]^2 and covariance
    E[xy] - E[x]E[y] are taken under the Gaussian window, and nothing is clamped. Each operation
    is piq's, in its order; most are done in place, on these maps of the size of the strip.
    """
    n, m = len(x), len(y)
    # x, x^2, xy, y, y^2 stacked, blurred in one pass (a single image's is inefficiently small).
    products = x.new_empty((3 * n + 2 * m, *x.shape[1:]))
    products[:n] = x
    torch.mul(x, x, out=products[n : 2 * n])
    torch.mul(x, y, out=products[2 * n : 3 * n])
    products[3 * n : 3 * n + m] = y
    torch.mul(y, y, out=products[3 * n + m :])
    mu_x, mean_xx, mean_xy, mu_y, mean_yy = _blur(products).split((n, n, n, m, m))
    mu_xy = mu_x * mu_y
    mu_xx, mu_yy = mu_x.square_(), mu_y.square()
    sigma_xy = mean_xy.sub_(mu_xy)
    denominator = mean_xx.sub_(mu_xx).add_(mean_yy - mu_yy).add_(_SSIM_C2)
    cs = sigma_xy.mul_(2.0).add_(_SSIM_C2).div_(denominator)
    if not luminance:
        return cs
    return mu_xy.mul_(2.0).add_(_SSIM_C1).div_(mu_xx.add_(mu_yy).add_(_SSIM_C1)).mul_(cs)


def _blur(images: torch.Tensor) -> torch.Tensor:
    """Gaussian means over the 11x11 windows that fit (a 'valid' correlation of the last two dims).

    The window is separable: 11 taps down the columns, then 11 along the rows, each pass a band
    matrix product per block of _BLUR_BLOCK outputs (so each output is the same 11-term dot
    product, up to the order of its additions).
    """
    margin = len(_GAUSSIAN_TAPS) - 1
    band = _BLUR_BAND.to(images.device, images.dtype)
    height, width = images.shape[-2:]
    columns = [
        band[: len(tops), : len(tops) + margin] @ images[..., tops.start : tops.stop + margin, :]
        for tops in _blocks(height - margin)
    ]
    images = columns[0] if len(columns) == 1 else torch.cat(columns, dim=-2)
    rows = [
        images[..., lefts.start : lefts.stop + margin] @ band[: len(lefts), : len(lefts) + margin].T
        for lefts in _blocks(width - margin)
    ]
    return rows[0] if len(rows) == 1 else torch.cat(rows, dim=-1)


def _blocks(length: int) -> list[range]:
    return [
        range(start, min(start + _BLUR_BLOCK, length)) for start in range(0, length, _BLUR_BLOCK)
    ]


def _band(size: int) -> torch.Tensor:
    """(size, size + 10) float64: row i holds the 11 taps from column i."""
    band = torch.zeros(size, size + len(_GAUSSIAN_TAPS) - 1, dtype=torch.float64)
    for i in range(size):
        band[i, i : i + len(_GAUSSIAN_TAPS)] = torch.tensor(_GAUSSIAN_TAPS, dtype=torch.float64)
    return band


_BLUR_BAND = _band(_BLUR_BLOCK)


def _halve(images: torch.Tensor) -> torch.Tensor:
    """2x2 means; an odd side first gets a copy of its last row or column (msssim.m's grid)."""
    height, width = images.shape[-2:]
    if height % 2:
        images = torch.cat((images, images[..., -1:, :]), dim=-2)
    if width % 2:
        images = torch.cat((images, images[..., -1:]), dim=-1)
    pairs_of_rows = images[..., 0::2, :] + images[..., 1::2, :]
    return (pairs_of_rows[..., 0::2] + pairs_of_rows[..., 1::2]) / 4


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

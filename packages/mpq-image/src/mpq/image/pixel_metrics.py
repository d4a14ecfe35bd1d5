"""Image metrics computed from the pixels alone: PSNR, SSIM and MS-SSIM, in numpy on the CPU.

They run beside the codec, in the codec workers (`Metric.beside_codec`), whatever the sweep's
device: numpy alone, so that neither a worker nor a sweep without a deep metric imports torch
(seconds per process, paid again by every worker).
"""

from __future__ import annotations

import functools
import math
from abc import abstractmethod

import numpy as np
from threadpoolctl import ThreadpoolController

from mpq.image.image_metric import ImageMetric, check_pairs, group_by


class _PixelMetric(ImageMetric):
    """Computed in the codec worker, from numpy alone."""

    beside_codec = True
    libraries = ("mpq-image", "numpy")


class PSNR(_PixelMetric):
    """Peak signal-to-noise ratio, 10 log10(255^2 / MSE), over R, G and B together (no luma).

    The MSE is exact: the squared errors are integers and their sum stays below 2**53 for any
    image under 10**11 values, so float64 adds them without rounding in any order (here as one
    dot product), and identical images give inf. It is the value piq.psnr gives on [0, 1] floats
    with data_range=1, except that piq adds 1e-8 to the MSE, which caps identical images at 80 dB
    and lowers near-lossless ones; hence the direct formula.
    """

    name = "psnr"
    higher_is_better = True
    input_range = (
        "uint8 RGB; MSE of the 0-255 integer values with peak 255, the same as [0, 1] floats with"
        " data_range=1 (identical images: inf)"
    )
    description = "PSNR in dB over all RGB values; inf for identical images"

    def compute(self, references: list[np.ndarray], decoded: list[np.ndarray]) -> list[float]:
        check_pairs(self.name, references, decoded)
        return [
            _psnr(reference, image) for reference, image in zip(references, decoded, strict=True)
        ]


def _psnr(reference: np.ndarray, decoded: np.ndarray) -> float:
    error = np.subtract(reference, decoded, dtype=np.float64).ravel()
    squared_error = float(error @ error)
    if squared_error == 0:
        return math.inf
    return 10 * math.log10(255.0**2 * error.size / squared_error)


class _StructuralMetric(_PixelMetric):
    """The SSIM family in float64, with piq.ssim's formula and a separable Gaussian filter.

    In float32 the local variances E[x^2] - E[x]^2 lose digits to cancellation: on flat bright
    regions SSIM moves by up to 4e-4, in the digits papers print. piq.ssim convolves with the full
    11x11 window; the Gaussian is separable, so _mean_ssim filters with 11 taps down the columns
    and then 11 along the rows (see _blur), which gives piq's values to within rounding (about
    1e-14) many times faster.

    The pairs that share one reference array (an item's codec settings, say) are computed
    together, and the reference's own local means and E[y^2] once for all of them.
    """

    higher_is_better = True

    def compute(self, references: list[np.ndarray], decoded: list[np.ndarray]) -> list[float]:
        check_pairs(self.name, references, decoded)
        values = [math.nan] * len(references)
        with _blas().limit(limits=1, user_api="blas"):
            for indices in group_by(references, id):
                reference = references[indices[0]]
                self.check_size(reference)
                x = _unit_planes(np.stack([decoded[i] for i in indices]))
                batch = self._shared_reference(x, _unit_planes(reference[None]))
                for i, value in zip(indices, batch.tolist(), strict=True):
                    values[i] = float(value)
        return values

    @abstractmethod
    def _shared_reference(self, decoded: np.ndarray, reference: np.ndarray) -> np.ndarray:
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

    def _shared_reference(self, decoded: np.ndarray, reference: np.ndarray) -> np.ndarray:
        return _mean_ssim(decoded, reference).mean(axis=1)


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

    def _shared_reference(self, decoded: np.ndarray, reference: np.ndarray) -> np.ndarray:
        x, y = decoded, reference
        terms = []
        for scale in range(len(self.scale_weights)):
            if scale:
                x, y = _halve(x), _halve(y)
            # Contrast-structure at every scale but the coarsest, which weighs luminance too.
            terms.append(_mean_ssim(x, y, luminance=scale == len(self.scale_weights) - 1))
        weights = np.array(self.scale_weights)[:, None, None]
        # (scale, N, channel): the product runs per channel, then the channels are averaged.
        per_channel = (np.maximum(np.stack(terms), 0) ** weights).prod(axis=0)
        return per_channel.mean(axis=1)


@functools.cache
def _blas() -> ThreadpoolController:
    """The BLAS libraries loaded here, to run the blur's matrix products on one thread: with
    more, OpenBLAS splits them differently and values move in the last bits, so the same pair
    would differ between a codec worker (one thread) and the sweep's own process (a cache hit,
    `--workers 0`). threadpoolctl's documented controller; `limit` restores the count after."""
    return ThreadpoolController()


def _unit_planes(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float64 in [0, 1]."""
    return images.transpose(0, 3, 1, 2).astype(np.float64) / 255


def _gaussian_taps(size: int, sigma: float) -> tuple[float, ...]:
    """The normalised 1-D Gaussian whose outer product is piq's 2-D window (up to rounding)."""
    weights = [math.exp(-((i - (size - 1) / 2) ** 2) / (2 * sigma**2)) for i in range(size)]
    total = math.fsum(weights)
    return tuple(weight / total for weight in weights)


_GAUSSIAN_TAPS = _gaussian_taps(11, 1.5)
_MARGIN = len(_GAUSSIAN_TAPS) - 1
_SSIM_C1 = 0.01**2  # (K1 * data_range)^2, as piq computes it
_SSIM_C2 = 0.03**2  # (K2 * data_range)^2
# SSIM maps are computed this many output pixels at a time (rows of every plane): the ~40
# float64 passes over them then stay in the cache.
_STRIP_PIXELS = 2**17
# The Gaussian is applied as a (BLOCK, BLOCK + 10) band matrix to blocks of BLOCK output rows or
# columns, one matrix product each: in float64 about 3 times faster than 11 shifted multiply-adds
# and 2 times faster than scipy.ndimage.correlate1d, though the band holds zeros.
_BLUR_BLOCK = 16


def _mean_ssim(x: np.ndarray, y: np.ndarray, luminance: bool = True) -> np.ndarray:
    """Mean SSIM of each (N, C) channel of two (N, C, H, W) float64 images, or with
    `luminance=False` their mean contrast-structure term; `y` holds one image (1, C, H, W) for
    all of `x`.

    These are piq.ssim's values with data_range=1, downsample=False and full=True, up to rounding,
    before it averages them over the channels. Strips of whole rows (with the window's 10 extra
    input rows) are taken at a time, fewer rows the more images there are; each map's row sums
    are then added up once and divided by the number of valid positions, which is their mean up
    to rounding. Strips start on blur blocks and rows are summed in one fixed order, so an image's
    value does not depend on how many others are computed with it (to the last bit).
    """
    height, width = x.shape[-2:]
    blocks = _STRIP_PIXELS // (x.shape[0] * x.shape[1] * width * _BLUR_BLOCK)
    rows = max(1, blocks) * _BLUR_BLOCK
    row_sums = np.empty((*x.shape[:2], height - _MARGIN))
    for top in range(0, height - _MARGIN, rows):
        strip = (..., slice(top, top + rows + _MARGIN), slice(None))
        row_sums[..., top : top + rows] = _ssim_row_sums(x[strip], y[strip], luminance)
    return row_sums.sum(axis=-1) / ((height - _MARGIN) * (width - _MARGIN))


def _ssim_row_sums(x: np.ndarray, y: np.ndarray, luminance: bool) -> np.ndarray:
    """The (N, C, H - 10) row sums of the SSIM map (or with `luminance=False` the
    contrast-structure map) of (N, C, H, W) float images `x` against one image `y` (1, C, H, W)
    over the valid positions.

    piq.ssim's formula with data_range=1: the local means, variances E[x^2] - E[x]^2 and covariance
    E[xy] - E[x]E[y] are taken under the Gaussian window, and nothing is clamped. Each operation
    is piq's, in its order; most are done in place.
    """
    n, channels = x.shape[:2]
    # x, x^2, xy, y, y^2 stacked, blurred in one pass (a single image's is inefficiently small).
    products = np.empty((3 * n + 2, *x.shape[1:]))
    products[:n] = x
    np.multiply(x, x, out=products[n : 2 * n])
    np.multiply(x, y, out=products[2 * n : 3 * n])
    products[3 * n] = y[0]
    np.multiply(y[0], y[0], out=products[3 * n + 1])
    blurred = _blur(products.reshape(-1, *x.shape[2:]))
    # (W', plane, H'): the planes of each of the five maps, as (W', N or 1, C, H') views.
    columns, _, rows = blurred.shape
    maps = np.split(blurred, np.cumsum([n, n, n, 1]) * channels, axis=1)
    mu_x, mean_xx, mean_xy, mu_y, mean_yy = (m.reshape(columns, -1, channels, rows) for m in maps)
    mu_xy = mu_x * mu_y
    mu_xx, mu_yy = np.square(mu_x, out=mu_x), np.square(mu_y)
    sigma_xy = np.subtract(mean_xy, mu_xy, out=mean_xy)
    denominator = np.subtract(mean_xx, mu_xx, out=mean_xx)
    denominator += mean_yy - mu_yy
    denominator += _SSIM_C2
    cs = sigma_xy
    cs *= 2.0
    cs += _SSIM_C2
    cs /= denominator
    if luminance:
        mu_xy *= 2.0
        mu_xy += _SSIM_C1
        mu_xx += mu_yy
        mu_xx += _SSIM_C1
        mu_xy /= mu_xx
        cs *= mu_xy
    return cs.sum(axis=0)


def _blur(planes: np.ndarray) -> np.ndarray:
    """Gaussian means over the 11x11 windows that fit (a 'valid' correlation) of (P, H, W)
    planes, returned transposed as (W - 10, P, H - 10): the SSIM maps are taken elementwise and
    summed, so their layout does not matter, and this one is the faster to write.

    The window is separable: 11 taps down the columns, then 11 along the rows, each pass a band
    matrix product per block of _BLUR_BLOCK outputs (so each output is the same 11-term dot
    product, up to the order of its additions). The row pass multiplies the transposed column
    result from the left, which BLAS reads in place.
    """
    count, height, width = planes.shape
    columns = _band_product(planes, np.empty((count, height - _MARGIN, width)))
    by_column = columns.reshape(-1, width).T
    out = _band_product(by_column, np.empty((width - _MARGIN, count * (height - _MARGIN))))
    return out.reshape(width - _MARGIN, count, height - _MARGIN)


def _band_product(inputs: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The 11-tap Gaussian along the second-to-last axis of `inputs` (valid positions only)
    into `out`, one band matrix product per block of _BLUR_BLOCK outputs."""
    for start, stop in _blocks(out.shape[-2]):
        band = _BLUR_BAND[: stop - start, : stop - start + _MARGIN]
        np.matmul(band, inputs[..., start : stop + _MARGIN, :], out=out[..., start:stop, :])
    return out


def _blocks(length: int) -> list[tuple[int, int]]:
    """(start, stop) of each block of _BLUR_BLOCK outputs."""
    return [(start, min(start + _BLUR_BLOCK, length)) for start in range(0, length, _BLUR_BLOCK)]


def _band(size: int) -> np.ndarray:
    """(size, size + 10) float64: row i holds the 11 taps from column i."""
    band = np.zeros((size, size + _MARGIN))
    for i in range(size):
        band[i, i : i + len(_GAUSSIAN_TAPS)] = _GAUSSIAN_TAPS
    return band


_BLUR_BAND = _band(_BLUR_BLOCK)


def _halve(images: np.ndarray) -> np.ndarray:
    """2x2 means; an odd side first gets a copy of its last row or column (msssim.m's grid)."""
    height, width = images.shape[-2:]
    if height % 2:
        images = np.concatenate((images, images[..., -1:, :]), axis=-2)
    if width % 2:
        images = np.concatenate((images, images[..., -1:]), axis=-1)
    pairs_of_rows = images[..., 0::2, :] + images[..., 1::2, :]
    return (pairs_of_rows[..., 0::2] + pairs_of_rows[..., 1::2]) / 4

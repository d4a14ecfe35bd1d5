"""Image similarity metrics on real photos (scikit-image's shipped astronaut, chelsea, coffee).

PSNR and SSIM are checked against scikit-image's independent implementations, MS-SSIM against a
numpy transcription of the authors' msssim.m, and both SSIM and MS-SSIM against piq's functional
API, whose full 11x11 window they replace by two 1-D passes. ST-LPIPS runs with
its real shipped weights. LPIPS and DISTS download their ImageNet backbones, so here they run their
real code path, setup() included, on randomly initialised backbones saved into a temporary torch
hub cache; their values are only checked for properties that hold for any weights (zero for
identical images, equality with the packages' own loading, input range, batching).
"""

from __future__ import annotations

import io
import math
import sys
import tomllib
import urllib.error
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import lpips
import numpy as np
import piq
import pytest
import torch
import torchvision
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from threadpoolctl import threadpool_limits

from mpq.core.errors import MpqError
from mpq.core.testing import heavy_imports_of
from mpq.image import deep_metrics, pixel_metrics
from mpq.image.deep_metrics import DISTS, LPIPSVGG, LPIPSAlex, STLPIPSAlex
from mpq.image.image_metric import ImageTooSmallError
from mpq.image.pixel_metrics import MSSSIM, PSNR, SSIM

# lpips and piq build torchvision networks with its deprecated `pretrained` flag.
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated since 0.13:UserWarning")

FACE = data.astronaut()[100:197, 150:281]  # 97x131: odd on both sides
CAT = data.chelsea()[40:232, 120:376]  # 192x256: large enough for MS-SSIM
CAT_ODD = data.chelsea()[60:221, 150:325]  # 161x175: the smallest MS-SSIM takes, odd
CHELSEA_MIXED = data.chelsea()[:201]  # 201x300: one odd side
COFFEE = data.coffee()[:384, 100:500]  # 384x400: piq's SSIM would halve it if asked to


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def to_unit(image: np.ndarray) -> torch.Tensor:
    """(1, 3, H, W) float64 in [0, 1], built here independently of the module under test."""
    return torch.from_numpy(image.astype(np.float64) / 255).permute(2, 0, 1)[None]


# -- locally built weights for the metrics whose backbones download -------------------------------


def save_random_backbone(builder, path: Path, seed: int) -> None:
    """A torchvision ImageNet checkpoint's exact keys and shapes with random conv weights.

    Only `features` are used by LPIPS and DISTS; the classifier is stored as a zero-stride view
    so the file stays small.
    """
    with torch.device("meta"):
        shapes = {key: value.shape for key, value in builder().state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.startswith("features.") and key.endswith("weight"):
            fan_in = shape[1:].numel()
            state[key] = torch.randn(shape, generator=generator) * (2 / fan_in) ** 0.5
        else:
            state[key] = torch.zeros(()).expand(shape)
    torch.save(state, path)


@pytest.fixture(scope="module")
def torch_home(tmp_path_factory) -> Iterator[Path]:
    """TORCH_HOME whose hub cache holds random AlexNet, VGG16 and DISTS weights."""
    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    weights = torchvision.models
    for builder, enum, seed in [
        (weights.alexnet, weights.AlexNet_Weights.IMAGENET1K_V1, 0),
        (weights.vgg16, weights.VGG16_Weights.IMAGENET1K_V1, 1),
    ]:
        save_random_backbone(builder, checkpoints / Path(enum.url).name, seed)
    alpha_beta = torch.rand(1, 2 * 1475, 1, 1, generator=torch.Generator().manual_seed(2))
    alpha_beta /= alpha_beta.sum()  # DISTS's weights sum to 1, so identical images give 0
    torch.save(
        {"alpha": alpha_beta[:, :1475].clone(), "beta": alpha_beta[:, 1475:].clone()},
        checkpoints / Path(piq.DISTS._weights_url).name,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(home))
        yield home


def ready(cls):
    metric = cls()
    metric.setup("cpu")
    return metric


def metric_for(name: str, request):
    """A ready metric: the classical ones by name, the deep ones by fixture."""
    classical = {"psnr": PSNR, "ssim": SSIM, "ms-ssim": MSSSIM}
    return ready(classical[name]) if name in classical else request.getfixturevalue(name)


@pytest.fixture(scope="module")
def lpips_alex(torch_home):
    return ready(LPIPSAlex)


@pytest.fixture(scope="module")
def lpips_vgg(torch_home):
    return ready(LPIPSVGG)


@pytest.fixture(scope="module")
def dists(torch_home):
    return ready(DISTS)


@pytest.fixture(scope="module")
def stlpips():
    return ready(STLPIPSAlex)


# -- classical metrics against independent implementations ---------------------------------------


@pytest.mark.parametrize("image", [FACE, CAT_ODD, COFFEE], ids=["97x131", "161x175", "384x400"])
def test_psnr_matches_skimage(image):
    decoded = jpeg(image, 30)
    (value,) = PSNR().compute([image], [decoded])
    assert value == pytest.approx(peak_signal_noise_ratio(image, decoded), abs=1e-10)
    assert 20 < value < 40


def test_psnr_is_piqs_formula_without_its_epsilon():
    decoded = jpeg(FACE, 90)
    (value,) = PSNR().compute([FACE], [decoded])
    piq_value = piq.psnr(to_unit(decoded), to_unit(FACE), data_range=1.0).item()
    mse = 10 ** (-piq_value / 10) - 1e-8  # piq returns -10 log10(mse + 1e-8)
    assert value == pytest.approx(-10 * math.log10(mse), abs=1e-8)


def test_psnr_of_identical_images_is_inf():
    assert PSNR().compute([FACE, CAT], [FACE.copy(), CAT.copy()]) == [math.inf, math.inf]


@pytest.mark.parametrize("image", [FACE, COFFEE], ids=["97x131", "384x400"])
def test_ssim_matches_skimage_gaussian_ssim(image):
    decoded = jpeg(image, 30)
    (value,) = SSIM().compute([image], [decoded])
    # The settings of Wang et al. that piq uses; skimage's defaults are a 7x7 uniform window.
    expected = structural_similarity(
        image,
        decoded,
        data_range=255,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert value == pytest.approx(expected, abs=1e-12)
    assert 0.5 < value < 0.99


def scipy_ssim_and_cs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and contrast-structure over the valid region of an 11x11, sigma 1.5 Gaussian."""
    blur = partial(gaussian_filter, sigma=1.5, truncate=3.5)  # radius 5: 11 taps
    valid = (slice(5, -5), slice(5, -5))
    mu_a, mu_b = blur(a)[valid], blur(b)[valid]
    var_a = blur(a * a)[valid] - mu_a**2
    var_b = blur(b * b)[valid] - mu_b**2
    cov = blur(a * b)[valid] - mu_a * mu_b
    cs = (2 * cov + 0.03**2) / (var_a + var_b + 0.03**2)
    luminance = (2 * mu_a * mu_b + 0.01**2) / (mu_a**2 + mu_b**2 + 0.01**2)
    return float((luminance * cs).mean()), float(cs.mean())


def piq_ssim_and_cs(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """piq.ssim's mean SSIM and contrast-structure of one channel, with its full 11x11 window."""
    ssim, cs = piq.ssim(
        torch.from_numpy(a)[None, None],
        torch.from_numpy(b)[None, None],
        data_range=1.0,
        full=True,
        downsample=False,
    )
    return ssim.item(), cs.item()


def msssim_m(reference: np.ndarray, decoded: np.ndarray, ssim_and_cs=scipy_ssim_and_cs) -> float:
    """The authors' msssim.m recipe in numpy, per RGB channel, then averaged (as TensorFlow does
    for colour), with negative terms clamped to 0 (as TensorFlow and piq do); each scale's mean
    SSIM and contrast-structure come from `ssim_and_cs` (by default scipy's Gaussian filter)."""
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    per_channel = []
    for channel in range(3):
        a, b = decoded[..., channel] / 255.0, reference[..., channel] / 255.0
        product = 1.0
        for level, weight in enumerate(weights):
            ssim, cs = ssim_and_cs(a, b)
            product *= max(ssim if level == len(weights) - 1 else cs, 0.0) ** weight
            a, b = halve(a), halve(b)
        per_channel.append(product)
    return float(np.mean(per_channel))


def halve(a: np.ndarray) -> np.ndarray:
    """msssim.m: imfilter(ones(2) / 4, 'symmetric', 'same'), then every other row and column."""
    padded = np.pad(a, ((0, 1), (0, 1)), mode="symmetric")
    mean = (padded[:-1, :-1] + padded[1:, :-1] + padded[:-1, 1:] + padded[1:, 1:]) / 4
    return mean[::2, ::2]


@pytest.mark.parametrize(
    "image", [CAT, CAT_ODD, CHELSEA_MIXED], ids=["192x256", "161x175", "201x300"]
)
@pytest.mark.parametrize("quality", [10, 60])
def test_ms_ssim_matches_the_authors_recipe(image, quality):
    decoded = jpeg(image, quality)
    (value,) = MSSSIM().compute([image], [decoded])
    assert value == pytest.approx(msssim_m(image, decoded), abs=1e-12)
    assert 0.8 < value < 0.995


def test_ms_ssim_equals_piq_functional_while_sizes_stay_even():
    """192x256 halves to even sizes at every scale, where piq's odd-size padding never acts."""
    decoded = jpeg(CAT, 10)
    (value,) = MSSSIM().compute([CAT], [decoded])
    expected = piq.multi_scale_ssim(to_unit(decoded), to_unit(CAT), data_range=1.0).item()
    assert value == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "image",
    [FACE, CAT, CAT_ODD, CHELSEA_MIXED, COFFEE],
    ids=["97x131", "192x256", "161x175", "201x300", "384x400"],
)
def test_separable_ssim_equals_piqs_full_window(image):
    """Per channel and per metric, on even and odd sizes: two decoded versions of one original
    in one batch (as an item's settings are), and two originals in one call."""
    references, decoded = [image, image[::-1].copy()], [jpeg(image, 15), jpeg(image[::-1], 50)]
    x = torch.cat([to_unit(d) for d in decoded])
    y = torch.cat([to_unit(r) for r in references])
    versions = torch.cat([to_unit(decoded[0]), to_unit(jpeg(image, 50))])
    original = to_unit(image)
    ssim = pixel_metrics._mean_ssim(versions.numpy(), original.numpy())
    cs = pixel_metrics._mean_ssim(versions.numpy(), original.numpy(), luminance=False)
    for channel in range(3):
        expected = piq.ssim(
            versions[:, [channel]],
            original.expand(2, -1, -1, -1)[:, [channel]],
            data_range=1.0,
            reduction="none",
            full=True,
            downsample=False,
        )
        np.testing.assert_allclose(ssim[:, channel], expected[0].numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(cs[:, channel], expected[1].numpy(), rtol=0, atol=1e-12)
    expected_ssim = piq.ssim(x, y, data_range=1.0, reduction="none", downsample=False)
    assert SSIM().compute(references, decoded) == pytest.approx(expected_ssim.tolist(), abs=1e-12)
    if min(image.shape[:2]) >= MSSSIM.min_side:
        pairs = zip(references, decoded, strict=True)
        expected_ms_ssim = [msssim_m(r, d, piq_ssim_and_cs) for r, d in pairs]
        assert MSSSIM().compute(references, decoded) == pytest.approx(expected_ms_ssim, abs=1e-12)


@pytest.mark.parametrize("metric", [SSIM(), MSSSIM()], ids=["ssim", "ms-ssim"])
def test_pairs_sharing_a_reference_equal_pairs_computed_alone(metric):
    """An item's settings share one reference array: its statistics are computed once for all.
    The values are those of each pair alone to the last bit, whatever the grouping, so a sweep
    gives the same rows whether a worker computed an item's settings together or the cache gave
    some of them back to be computed in the parent's batches."""
    other = CHELSEA_MIXED[:192, :256].copy()
    references = [CAT, other, CAT, CAT.copy(), CAT]
    decoded = [jpeg(CAT, q) for q in (10, 30, 60, 90)]
    decoded.insert(1, jpeg(other, 30))
    alone = [metric.compute([r], [d])[0] for r, d in zip(references, decoded, strict=True)]
    assert metric.compute(references, decoded) == alone
    assert metric.compute(references[2:], decoded[2:]) == alone[2:]
    assert alone[0] < alone[2] < alone[3] < alone[4]


@pytest.mark.parametrize("metric", [SSIM(), MSSSIM()], ids=["ssim", "ms-ssim"])
def test_values_do_not_depend_on_how_many_threads_blas_may_use(metric):
    """A codec worker's BLAS runs on one thread, the sweep's own process (a cache hit,
    `--workers 0`) on every core: an item's values must be the same in both (with two threads,
    OpenBLAS's blur products moved them by up to 3e-16)."""
    camera = np.asarray(Image.fromarray(data.camera()).resize((384, 384))).copy()
    image = np.stack([camera] * 3, axis=-1)
    references, decoded = [image] * 5, [jpeg(image, q) for q in (1, 5, 10, 25, 50)]
    with threadpool_limits(limits=1, user_api="blas"):
        one_thread = metric.compute(references, decoded)
    with threadpool_limits(limits=2, user_api="blas"):
        assert metric.compute(references, decoded) == one_thread


@pytest.mark.parametrize("pixels", [1, 1000, 10**9])
def test_ssim_does_not_depend_on_the_cpu_strip_size(pixels, monkeypatch):
    """Row by row, a few rows or planes at a time, or the whole batch at once (as on a GPU)."""
    references, decoded = [FACE, FACE[:, ::-1].copy()], [jpeg(FACE, 10), jpeg(FACE[:, ::-1], 40)]
    expected = SSIM().compute(references, decoded)
    monkeypatch.setattr(pixel_metrics, "_STRIP_PIXELS", pixels)
    assert SSIM().compute(references, decoded) == pytest.approx(expected, abs=1e-14)


@pytest.mark.parametrize(
    ("fixture", "side"), [("ms-ssim", 161), ("ssim", 11), ("lpips_alex", 31), ("stlpips", 21)]
)
def test_images_below_the_minimum_size_are_refused_naming_it(fixture, side, request):
    metric = metric_for(fixture, request)
    small = CAT[: side - 1]
    with pytest.raises(
        ImageTooSmallError, match=rf"{metric.name} needs .* {side}x{side} .* got {side - 1}x256"
    ):
        metric.compute([small], [small])
    assert issubclass(ImageTooSmallError, MpqError)
    edge = CAT[:side, 5 : side + 5]
    assert metric.compute([edge], [jpeg(edge, 10)])[0] != (1.0 if metric.higher_is_better else 0.0)


@pytest.mark.parametrize("fixture", ["lpips_alex", "lpips_vgg", "stlpips"])
def test_lpips_with_originals_remembered_equals_the_librarys_forward(fixture, request, monkeypatch):
    """Originals repeat within a call and across calls, and one changes in place between calls:
    every value is the library's own forward on that pair."""
    metric = request.getfixturevalue(fixture)
    monkeypatch.setattr(metric, "remembered", 1)
    cat, flipped = CAT.copy(), CAT[::-1].copy()

    def library(reference, decoded):
        pair = [
            torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].float() / 127.5 - 1
            for a in (decoded, reference)
        ]
        with torch.inference_mode():
            return metric.model(*pair).item()

    calls = [
        ([cat, cat, flipped], [jpeg(cat, 10), jpeg(cat, 60), jpeg(flipped, 20)]),
        ([cat], [jpeg(cat, 30)]),
        ([flipped, cat], [jpeg(flipped, 5), jpeg(cat, 5)]),
    ]
    for references, decoded in calls:
        expected = [library(r, d) for r, d in zip(references, decoded, strict=True)]
        assert metric.compute(references, decoded) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    cat[:40] = 255 - cat[:40]  # the same array, other content: not the remembered features
    expected = library(cat, jpeg(CAT, 30))
    assert metric.compute([cat], [jpeg(CAT, 30)]) == pytest.approx([expected], rel=1e-5, abs=1e-7)
    assert len(metric._originals) == 1
    monkeypatch.setattr(metric, "remembered", 8)
    monkeypatch.setattr(metric, "remembered_bytes", 1)  # less than one original's features
    metric.compute([cat, flipped], [jpeg(cat, 5), jpeg(flipped, 5)])
    assert len(metric._originals) == 2  # those of the current call stay until it is done
    metric.compute([cat], [jpeg(cat, 20)])
    assert len(metric._originals) == 1


# -- distortion and identity on every metric -----------------------------------------------------


def test_stronger_jpeg_lowers_similarity(stlpips):
    mild, strong = jpeg(CAT, 90), jpeg(CAT, 10)
    for metric in (PSNR(), SSIM(), MSSSIM()):
        high, low = metric.compute([CAT, CAT], [mild, strong])
        assert high > low, metric.name
    near, far = stlpips.compute([CAT, CAT], [mild, strong])
    assert 0 < near < far
    assert far > 5 * near


def test_identical_images_score_perfectly(lpips_alex, lpips_vgg, dists, stlpips):
    pairs = ([FACE, CAT_ODD], [FACE.copy(), CAT_ODD.copy()])
    assert SSIM().compute(*pairs) == [pytest.approx(1.0, abs=1e-12)] * 2
    assert MSSSIM().compute([CAT_ODD], [CAT_ODD.copy()]) == [pytest.approx(1.0, abs=1e-12)]
    for metric in (lpips_alex, lpips_vgg, dists, stlpips):
        assert metric.compute(*pairs) == [pytest.approx(0.0, abs=1e-6)] * 2, metric.name


# -- what reaches the implementations ------------------------------------------------------------


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_equals_the_package_loading_its_own_weights(net, request):
    """Same backbone file, the package's own loader and its documented [0, 1] flag."""
    metric = request.getfixturevalue(f"lpips_{net}")
    reference = lpips.LPIPS(net=net, verbose=False).eval()
    decoded = jpeg(FACE, 20)
    with torch.no_grad():
        expected = reference(to_unit(decoded).float(), to_unit(FACE).float(), normalize=True)
    assert metric.compute([FACE], [decoded]) == [pytest.approx(expected.item(), rel=1e-5)]


def test_stlpips_equals_the_package_loading_its_own_weights(stlpips):
    from stlpips_pytorch import stlpips as package

    reference = package.LPIPS(net="alex", variant="shift_tolerant", verbose=False).eval()
    decoded = jpeg(FACE, 20)
    with torch.no_grad():
        expected = reference(to_unit(decoded).float(), to_unit(FACE).float(), normalize=True)
    value = stlpips.compute([FACE], [decoded])[0]
    assert value == pytest.approx(expected.item(), rel=1e-5)
    assert value > 0.01


@pytest.mark.parametrize(
    ("fixture", "low", "high"),
    [("lpips_alex", -1, 1), ("lpips_vgg", -1, 1), ("stlpips", -1, 1), ("dists", 0, 1)],
)
def test_networks_receive_their_documented_range(fixture, low, high, request):
    metric = request.getfixturevalue(fixture)
    seen = []
    first = metric.model  # what takes the images: the whole network, or LPIPS' first layer
    if fixture != "dists":
        first = first.scaling_layer if first.version == "0.1" else first.net
    hook = first.register_forward_pre_hook(
        lambda module, inputs: seen.extend((x.min().item(), x.max().item()) for x in inputs)
    )
    black_and_white = FACE.copy()
    black_and_white[:10] = 0
    black_and_white[-10:] = 255
    try:
        metric.compute([black_and_white], [FACE])
    finally:
        hook.remove()
    assert min(lo for lo, _ in seen) == low
    assert max(hi for _, hi in seen) == high


@pytest.mark.parametrize(
    "bad",
    [
        FACE.astype(np.float32) / 255,  # [0, 1] floats
        FACE.astype(np.float32),  # 0-255 floats, what the reference notebooks fed LPIPS
        FACE.astype(np.uint16),
        torch.from_numpy(FACE),
    ],
    ids=["float-unit", "float-255", "uint16", "tensor"],
)
def test_lpips_refuses_anything_but_uint8(lpips_alex, bad):
    with pytest.raises(TypeError, match=r"lpips-alex: decoded image 0 is .*expected a uint8"):
        lpips_alex.compute([FACE], [bad])


@pytest.mark.parametrize("cls", [PSNR, SSIM, MSSSIM])
@pytest.mark.parametrize(
    ("references", "decoded", "message"),
    [
        ([FACE.astype(np.float64)], [FACE], "reference image 0 is float64"),
        ([FACE[..., 0]], [FACE[..., 0]], r"shape \(97, 131\); expected HxWx3"),
        ([np.dstack([FACE, FACE[..., :1]])], [FACE], r"shape \(97, 131, 4\)"),
        ([FACE], [FACE[:96]], r"pair 0 has reference shape \(97, 131, 3\)"),
        ([FACE, FACE], [FACE], "2 reference images but 1 decoded"),
    ],
)
def test_malformed_input_is_refused_naming_the_metric(cls, references, decoded, message):
    with pytest.raises((TypeError, ValueError), match=f"{cls.name}: .*{message}"):
        cls().compute(references, decoded)


def test_deep_metric_needs_setup():
    with pytest.raises(RuntimeError, match=r"stlpips-alex: call setup\(device\)"):
        STLPIPSAlex().compute([FACE], [FACE])


# -- batching -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["psnr", "ssim", "ms-ssim", "lpips_alex", "dists", "stlpips"])
def test_mixed_sizes_batch_to_the_same_values_in_order(fixture, request):
    metric = metric_for(fixture, request)
    small = CAT[:165, :161] if fixture == "ms-ssim" else FACE
    references = [CAT_ODD, small, CAT_ODD, small]
    decoded = [jpeg(CAT_ODD, 10), jpeg(small, 50), jpeg(CAT_ODD, 40), jpeg(small, 15)]
    batched = metric.compute(references, decoded)
    alone = [metric.compute([r], [d])[0] for r, d in zip(references, decoded, strict=True)]
    assert batched == pytest.approx(alone, rel=1e-5, abs=1e-7)
    assert len({round(v, 6) for v in alone}) == len(alone)  # an order mix-up would show


def test_values_do_not_depend_on_autocast(lpips_alex):
    decoded = jpeg(FACE, 20)
    expected = [m.compute([FACE], [decoded])[0] for m in (ready(SSIM), lpips_alex)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = [m.compute([FACE], [decoded])[0] for m in (ready(SSIM), lpips_alex)]
    assert got == expected


# -- setup failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "urls"),
    [
        (LPIPSAlex, [torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url]),
        (LPIPSVGG, [torchvision.models.VGG16_Weights.IMAGENET1K_V1.url]),
        (DISTS, [torchvision.models.VGG16_Weights.IMAGENET1K_V1.url, piq.DISTS._weights_url]),
    ],
)
def test_offline_setup_says_what_to_download_and_where(cls, urls, tmp_path, monkeypatch):
    def offline(url, *args, **kwargs):
        raise urllib.error.URLError("network unreachable")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(MpqError) as raised:
        cls().setup("cpu")
    message = str(raised.value)
    assert message.startswith(f"{cls.name} needs weights")
    for url in urls:
        assert f"{url} -> {tmp_path / 'hub' / 'checkpoints' / Path(url).name}" in message
    assert "~/.cache/torch/hub/checkpoints" in message


def test_weights_that_leave_a_parameter_unfilled_are_refused():
    model = lpips.LPIPS(pretrained=False, net="alex", pnet_rand=True, verbose=False)
    state = model.state_dict()
    del state["lin2.model.1.weight"]
    with pytest.raises(MpqError, match=r"lpips-alex: the weights do not fit .*lin2\.model"):
        deep_metrics._load_all("lpips-alex", model, state)


def test_missing_stlpips_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "stlpips_pytorch", None)
    with pytest.raises(MpqError, match=r"pip install 'mpq-image\[offline-deep\]'"):
        STLPIPSAlex().setup("cpu")


def test_entry_points_name_classes_with_complete_metadata():
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    entry_points = tomllib.loads(pyproject.read_text())["project"]["entry-points"]["mpq.metrics"]
    classes = {
        cls.__name__: cls for cls in (PSNR, SSIM, MSSSIM, LPIPSAlex, LPIPSVGG, DISTS, STLPIPSAlex)
    }
    assert len(entry_points) == len(classes)
    for name, target in entry_points.items():
        module, attribute = target.split(":")
        cls = classes[attribute]
        assert module == cls.__module__
        expected = "pixel_metrics" if cls.beside_codec else "deep_metrics"
        assert module == f"mpq.image.{expected}"
        assert cls.name == name
        assert cls.modality == "image"
        assert cls.higher_is_better == (name in {"psnr", "ssim", "ms-ssim"})
        assert "uint8 RGB" in cls.input_range and cls.description


def test_pixel_metrics_load_no_heavy_library():
    """They run in codec workers, which must not spend seconds importing torch."""
    assert heavy_imports_of("mpq.image.pixel_metrics") == ["numpy"]


def test_backbone_urls_are_torchvisions_imagenet_weights():
    from mpq.image.deep_metrics import ALEXNET_URL, VGG16_URL

    assert torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url == ALEXNET_URL
    assert torchvision.models.VGG16_Weights.IMAGENET1K_V1.url == VGG16_URL

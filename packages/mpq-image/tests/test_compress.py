import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import skimage.data
from click.testing import CliRunner
from PIL import Image

from mpq.core.paths import decoded_file, safe_name
from mpq.core.store import read_run
from mpq.image.cli import main


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    Image.fromarray(skimage.data.astronaut()[:64, :96]).save(images / "astronaut.png")
    Image.fromarray(skimage.data.coffee()[:61, :83]).save(images / "sub" / "coffee.jpg", quality=95)
    (images / "broken.png").write_bytes(b"not an image at all")
    return images


def test_compress_writes_rows_rates_and_decoded_images(folder, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["compress", str(folder), "--codec", "jpeg:quality=10,50", "--codec", "webp:bpp=0.5",
         "--out", str(out), "--save-decoded", "--workers", "0", "--no-cache", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    manifest, table = read_run(out)
    assert manifest["task"] == "compress" and manifest["codecs"][0] == "none"
    rows = table.to_pylist()
    assert len(rows) == 3 * 4
    failed = [r for r in rows if r["status"] == "failed"]
    assert len(failed) == 4 and all(
        "broken.png: not a readable image" in r["error"] for r in failed
    )
    for row in rows:
        if row["status"] == "ok" and row["setting"] != "none":
            assert row["bpp"] == 8 * row["bytes"] / (row["height"] * row["width"])
            saved = decoded_file(out / "decoded", row["item_id"], row["setting"], ".png")
            decoded = np.asarray(Image.open(saved))
            assert decoded.shape == (row["height"], row["width"], 3)
    webp = [r for r in rows if r["setting"] == "webp:bpp=0.5" and r["status"] == "ok"]
    assert all(r["bpp"] <= 0.5 and '"quality"' in r["codec_params"] for r in webp)


def test_compress_says_which_files_of_its_folders_it_leaves_out(folder, tmp_path):
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub" / "scan.heic").write_bytes(b"x")
    (folder / "._astronaut.png").write_bytes(b"a macOS resource fork")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main,
        ["compress", str(folder), "--codec", "jpeg:quality=50", "--out", str(out),
         "--workers", "0", "--no-cache", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Left out 2 files of the given folders, of types this command does not read" in (
        result.output
    )
    assert "(1 .heic, 1 .txt)" in result.output
    items = {row["item_id"] for row in read_run(out)[1].to_pylist()}
    assert items == {str(folder / n) for n in ("astronaut.png", "broken.png", "sub/coffee.jpg")}


def test_compress_needs_a_codec_and_existing_inputs(folder, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["compress", str(folder), "--out", str(tmp_path / "r")])
    assert result.exit_code != 0 and "give at least one --codec" in result.output
    result = runner.invoke(
        main, ["compress", str(tmp_path / "nope"), "--codec", "jpeg", "--out", str(tmp_path / "r")]
    )
    assert "no such file or folder" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [("../../etc/passwd", "etc_passwd"), ("/abs/path/img.png", "abs_path_img.png"),
     ("jpeg:quality=5", "jpeg_quality=5"), ("..", "item")],
)  # fmt: skip
def test_ids_become_safe_file_names(text, expected):
    assert safe_name(text) == expected


def _png(path, width, height, depth, color_type, scanlines):
    """A PNG written by hand (IHDR, one IDAT, IEND): Pillow writes no 16-bit colour PNGs."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0)
    idat = zlib.compress(scanlines)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
    path.write_bytes(png + chunk(b"IEND", b""))


def _png_declaring(path, width, height):
    """A tiny PNG whose header declares a huge image (a decompression bomb's shape)."""
    _png(path, width, height, 8, 0, b"\0" * 4096)


def _png_of(path, samples):
    """`samples` (HxWxC, C = 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; uint8 or uint16) as a PNG."""
    height, width, channels = samples.shape
    big_endian = samples.astype(samples.dtype.newbyteorder(">"))
    scanlines = b"".join(b"\0" + row.tobytes() for row in big_endian)  # filter type 0: none
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    _png(path, width, height, 8 * samples.itemsize, color_type, scanlines)


def _compress(folder, out, *extra):
    return CliRunner().invoke(
        main,
        ["compress", str(folder), "--codec", "jpeg:quality=10", "--out", str(out),
         "--workers", "0", "--no-cache", "--no-progress", *extra],
    )  # fmt: skip


def test_a_decompression_bomb_is_one_failed_item(folder, tmp_path):
    _png_declaring(folder / "bomb.png", 20000, 20000)
    result = _compress(folder, tmp_path / "run")
    assert result.exit_code == 0, result.output
    rows = {(r["item_id"], r["setting"]): r for r in read_run(tmp_path / "run")[1].to_pylist()}
    bomb = rows[(str(folder / "bomb.png"), "none")]
    assert bomb["status"] == "failed"
    assert "20000 x 20000 = 400000000 pixels is above the limit of 89478485" in bomb["error"]
    astronaut = rows[(str(folder / "astronaut.png"), "jpeg:quality=10")]
    assert astronaut["status"] == "ok"
    result = _compress(folder, tmp_path / "small", "--max-pixels", "5000")
    rows = {(r["item_id"], r["setting"]): r for r in read_run(tmp_path / "small")[1].to_pylist()}
    coffee = rows[(str(folder / "sub" / "coffee.jpg"), "none")]  # 61 x 83 = 5063 pixels
    assert coffee["status"] == "failed" and "above the limit of 5000" in coffee["error"]
    assert read_run(tmp_path / "small")[0]["task_config"]["max_pixels"] == 5000


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32])
def test_images_of_more_than_8_bits_are_refused_not_clipped(tmp_path, dtype):
    from mpq.core.errors import MpqError
    from mpq.image.data import load_image

    path = tmp_path / "wide.tif"
    Image.fromarray(np.linspace(0, 60000, 64 * 64).astype(dtype).reshape(64, 64)).save(path)
    with pytest.raises(MpqError, match="mpq measures 8-bit images and will not clip") as error:
        load_image(path)
    assert str(path) in str(error.value)
    hint = "round(value * 255) for floats" if dtype == np.float32 else "value // 257 for 16 bits"
    assert hint in str(error.value)


def test_a_16_bit_png_is_a_failed_row(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(np.linspace(0, 65535, 32 * 32).astype(np.uint16).reshape(32, 32)).save(
        folder / "deep.png"
    )
    result = _compress(folder, tmp_path / "run")
    assert result.exit_code == 0, result.output
    rows = read_run(tmp_path / "run")[1].to_pylist()
    assert len(rows) == 2 and all(r["status"] == "failed" for r in rows)
    assert all("I;16 image (16 bits per sample)" in r["error"] for r in rows)


@pytest.mark.parametrize(("channels", "layout"), [(2, "LA"), (3, "RGB"), (4, "RGBA")])
def test_16_bit_colour_and_gray_alpha_pngs_are_failed_rows(folder, tmp_path, channels, layout):
    samples = np.linspace(0, 65535, 24 * 32 * channels).astype(np.uint16)
    _png_of(folder / "deep.png", samples.reshape(24, 32, channels))
    # Pillow 13.0.0 opens them in 8-bit modes (PngImagePlugin._MODES), so the mode tells nothing.
    with Image.open(folder / "deep.png") as opened:
        assert opened.mode in ("RGB", "RGBA")
    result = _compress(folder, tmp_path / "run")
    assert result.exit_code == 0, result.output
    rows = {(r["item_id"], r["setting"]): r for r in read_run(tmp_path / "run")[1].to_pylist()}
    for setting in ("none", "jpeg:quality=10"):
        deep = rows[(str(folder / "deep.png"), setting)]
        assert deep["status"] == "failed"
        assert deep["error"].startswith(f"{folder / 'deep.png'}: {layout} image (16 bits per")
        assert "mpq measures 8-bit images" in deep["error"] and "value // 257" in deep["error"]
        assert rows[(str(folder / "astronaut.png"), setting)]["status"] == "ok"


def test_an_8_bit_png_written_by_hand_loads_exactly(tmp_path):
    from mpq.image.data import load_image

    samples = skimage.data.astronaut()[:24, :32]
    _png_of(tmp_path / "plain.png", samples)
    assert np.array_equal(load_image(tmp_path / "plain.png"), samples)


@pytest.mark.parametrize(
    "options",
    [{}, {"compression": "zlib"}, {"planarconfig": "separate"}],
    ids=["plain", "libtiff", "planes"],
)
def test_16_bit_rgb_tiffs_are_refused(tmp_path, options):
    """Stored plainly, through libtiff (compressed) and as separate colour planes."""
    from mpq.core.errors import MpqError
    from mpq.image.data import load_image

    tifffile = pytest.importorskip("tifffile")
    samples = np.linspace(0, 65535, 24 * 32 * 3).astype(np.uint16).reshape(24, 32, 3)
    if options.get("planarconfig") == "separate":
        samples = np.moveaxis(samples, 2, 0)
    path = tmp_path / "deep.tif"
    tifffile.imwrite(path, samples, photometric="rgb", **options)
    with pytest.raises(MpqError, match=r"deep\.tif: RGB image \(16 bits per sample\)"):
        load_image(path)


@pytest.mark.parametrize(("maxval", "bits"), [(65535, 16), (4095, 12)])
def test_ppms_of_more_than_8_bits_are_refused(tmp_path, maxval, bits):
    """Pillow scales a colour PPM's samples above 255 down to 8 bits (PpmImagePlugin)."""
    from mpq.core.errors import MpqError
    from mpq.image.data import load_image

    path = tmp_path / "deep.ppm"
    samples = np.linspace(0, maxval, 8 * 8 * 3).astype(">u2")
    path.write_bytes(b"P6 8 8 %d\n" % maxval + samples.tobytes())
    with pytest.raises(MpqError, match=rf"deep\.ppm: RGB image \({bits} bits per sample\)"):
        load_image(path)


def test_decoded_files_of_ids_with_the_same_safe_name_do_not_collide(tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    names = ["a b.png", "a_b.png", "\u00fc.png", "\u00e9.png"]
    for n, name in enumerate(names):
        Image.fromarray(np.full((16, 16, 3), 40 * n, np.uint8)).save(folder / name)
    out = tmp_path / "run"
    result = _compress(folder, out, "--save-decoded")
    assert result.exit_code == 0, result.output
    saved = sorted((out / "decoded").rglob("*.png"))
    assert len(saved) == 4
    for name in names:
        file = decoded_file(out / "decoded", str(folder / name), "jpeg:quality=10", ".png")
        assert file in saved
    assert any("a_b.png" in f.name for f in saved)  # still readable


def test_a_sweep_with_pixel_metrics_imports_torch_in_no_process(tmp_path):
    """torch takes seconds to import, in every process: PSNR, SSIM and MS-SSIM need none of it,
    neither in the command's process nor in its codec workers. `-X importtime`, which spawned
    workers inherit, makes every process list its imports on the shared stderr."""
    images = tmp_path / "images"
    images.mkdir()
    for name, photo in (("cat", skimage.data.chelsea()), ("coffee", skimage.data.coffee())):
        Image.fromarray(photo[:200, :240]).save(images / f"{name}.png")
    out = tmp_path / "run"
    command = ["compress", str(images), "--codec", "jpeg:quality=10,50", "--out", str(out),
               "--metric", "psnr", "--metric", "ssim", "--metric", "ms-ssim", "--workers", "2",
               "--no-cache", "--no-progress"]  # fmt: skip
    code = f"from mpq.image.cli import main; main({command!r}, standalone_mode=False)"
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()]
    assert imported.count("mpq.core.item_coding") == 3  # the command and both workers listed
    assert "torch" not in imported
    rows = read_run(out)[1].to_pylist()
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    assert all(0.5 < r["metric.ms-ssim"] < 1 for r in rows if r["setting"] != "none")
    here = tmp_path / "here"  # the same sweep in the command's own process: the same values
    command[command.index("--out") + 1], command[command.index("--workers") + 1] = str(here), "0"
    assert CliRunner().invoke(main, command).exit_code == 0
    metrics = ("metric.psnr", "metric.ssim", "metric.ms-ssim")

    def values(run_dir):
        table = read_run(run_dir)[1].to_pylist()
        return {(r["item_id"], r["setting"]): [r[m] for m in metrics] for r in table}

    assert values(here) == values(out)

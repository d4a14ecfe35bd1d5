import numpy as np
import pytest
import skimage.data
from click.testing import CliRunner
from PIL import Image

from mpq.core.paths import safe_name
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
            saved = out / "decoded" / safe_name(row["setting"]) / f"{safe_name(row['item_id'])}.png"
            decoded = np.asarray(Image.open(saved))
            assert decoded.shape == (row["height"], row["width"], 3)
    webp = [r for r in rows if r["setting"] == "webp:bpp=0.5" and r["status"] == "ok"]
    assert all(r["bpp"] <= 0.5 and '"quality"' in r["codec_params"] for r in webp)


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

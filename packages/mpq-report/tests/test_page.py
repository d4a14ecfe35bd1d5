import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image
from synthetic_runs import write_run

from mpq.report.build import ReportOptions, build
from mpq.report.page import item_browser

JPEG = [(5, 0.08, 0.40, 24.0), (20, 0.16, 0.60, 27.0), (50, 0.32, 0.80, 30.0)]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture
def report_dir(tmp_path):
    run = write_run(
        tmp_path / "run", {"jpeg": JPEG, "webp": [(q, r * 0.8, a, p) for q, r, a, p in JPEG]},
        failed={"webp:quality=5": 3},
    )  # fmt: skip
    build([run], tmp_path / "out", ReportOptions(resamples=50))
    return tmp_path / "out"


def test_the_html_report_is_one_self_contained_file(report_dir):
    text = (report_dir / "report.html").read_text()
    assert 'src="http' not in text and 'href="http' not in text and "<link" not in text
    assert text.count("data:image/png;base64,") == 3  # accuracy and PSNR vs rate, accuracy vs PSNR
    assert text.count('<table class="sortable"') == 5
    assert "Task score at a common rate" in text and "Failures and flips" in text


def test_the_item_browser_lists_failures(report_dir, tmp_path):
    from mpq.report.load import load_runs

    browser, total = item_browser(load_runs([tmp_path / "run"]).table)
    failed = [r for r in browser.rows if r[5].text.startswith("failed")]
    assert total == len(browser.rows) and len(failed) == 3
    assert {r[1].text for r in failed} == {"webp:quality=5"}


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian package chromium)")
def test_the_html_report_renders_in_chromium_without_errors(report_dir, tmp_path):
    url = (report_dir / "report.html").as_uri()
    profile = [f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--enable-logging=stderr", "--v=0", "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # The inline script ran to its end and caught no error; the browser logged none either.
    assert 'data-mpq-ready="1"' in dom.stdout, dom.stderr[-2000:]
    assert '<p id="mpq-errors"></p>' in dom.stdout and "Uncaught" not in dom.stderr
    shot = tmp_path / "shot.png"
    subprocess.run(
        [CHROMIUM, *FLAGS, *profile, "--window-size=1200,1600", f"--screenshot={shot}", url],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape[:2] == (1600, 1200)
    blue = (np.abs(image - [0x00, 0x72, 0xB2]).sum(axis=2) < 40).sum()  # JPEG's curve colour
    assert blue > 200 and len(np.unique(image.reshape(-1, 3), axis=0)) > 200

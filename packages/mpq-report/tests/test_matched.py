import math

import numpy as np
import pytest
from synthetic_runs import write_run

from mpq.report.build import ReportOptions, bd_rows, prepare
from mpq.report.matched import chosen_rate, primary_score, score_at
from mpq.report.tables import paper_table

JPEG = [
    (5, 0.08, 0.40, 24.0),
    (20, 0.16, 0.60, 27.0),
    (50, 0.32, 0.80, 30.0),
    (90, 0.64, 0.9, 34.0),
]
WEBP2 = [(5, 0.1, 0.5, 25.0), (50, 0.4, 0.9, 31.0)]


def test_a_curve_whose_score_falls_with_rate_gets_a_note_not_a_bd_rate(tmp_path):
    # A demo's AAC curve: word accuracy 0.944 at 17.6 kbps, 0.928 at 33.8; Opus saves 20% of
    # MP3's rate at every score, and keeps its BD-rate.
    mp3 = [(8, 8.5, 0.648, 9.8), (16, 16.7, 0.928, 14.0), (32, 32.8, 0.956, 16.9)]
    aac = [(16, 17.6, 0.944, 12.3), (32, 33.8, 0.928, 17.9)]
    opus = [(q, r * 0.8, a, p) for q, r, a, p in mp3]
    run = write_run(tmp_path / "r", {"mp3": mp3, "aac": aac, "opus": opus}, n=250, unit="kbps")
    report = prepare([run], ReportOptions(resamples=0, anchor="mp3"))
    rows = {(r[1], r[3]): r for r in bd_rows(report)}
    assert math.isnan(rows[("accuracy", "aac")][4].value)
    for measure in ("accuracy", "psnr"):  # Opus: same scores at 80% of MP3's rate
        assert rows[(measure, "opus")][4].value == pytest.approx(-20.0, abs=1e-9)
    assert math.isfinite(rows[("psnr", "aac")][4].value)  # AAC's PSNR does rise with rate
    assert list(report.notes) == [
        "classify / beans: BD delta not computed, a curve's score gets worse as rate rises, and"
        " BD-rate needs one that improves (1 case): accuracy: aac vs mp3 (BD-rate; the aac curve)."
    ]


def test_a_rate_target_point_never_joins_a_knob_curve(tmp_path):
    # The targeted point sits above the knob curve: mixed in, it would make the curve zig-zag.
    run = write_run(tmp_path / "r", {"jpeg": JPEG}, targets={"jpeg": [(0.25, 0.24, 0.95, 33.0)]})
    (exp,) = prepare([run], ReportOptions(resamples=0)).experiments
    assert [p.setting for p in exp.curves()["jpeg"]] == [f"jpeg:quality={q}" for q, *_ in JPEG]
    (target,) = exp.targets()
    assert (target.setting, target.curve, target.target) == ("jpeg:bpp=0.25", "jpeg", ("bpp", 0.25))
    assert target.rate == pytest.approx(0.24)


def test_targets_stay_out_of_bd_curves(tmp_path):
    run = write_run(
        tmp_path / "r", {"jpeg": JPEG, "webp": [(q, r * 0.8, a, p) for q, r, a, p in JPEG]},
        targets={"jpeg": [(0.25, 0.24, 0.95, 33.0)]},
    )  # fmt: skip
    rows = {(r[1], r[3]): r for r in bd_rows(prepare([run], ReportOptions(resamples=0)))}
    assert rows[("accuracy", "webp")][4].value == pytest.approx(-20.0, abs=1e-9)


def pchip_by_hand(x: list[float], y: list[float], at: float) -> float:
    """Fritsch-Carlson monotone cubic Hermite: Brodlie's weighted harmonic mean of the secants
    as inner slopes, the shape-preserving three-point formula at the ends."""
    h, secant = np.diff(x), np.diff(y) / np.diff(x)
    slopes = np.zeros(len(x))
    for k in range(1, len(x) - 1):
        if secant[k - 1] * secant[k] > 0:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            slopes[k] = (w1 + w2) / (w1 / secant[k - 1] + w2 / secant[k])
    for end, inner in ((0, 1), (-1, -2)):
        d = ((2 * h[end] + h[inner]) * secant[end] - h[end] * secant[inner]) / (h[end] + h[inner])
        if np.sign(d) != np.sign(secant[end]):
            d = 0.0
        elif np.sign(secant[end]) != np.sign(secant[inner]) and abs(d) > 3 * abs(secant[end]):
            d = 3 * secant[end]
        slopes[end] = d
    k = int(np.searchsorted(x, at)) - 1
    t = (at - x[k]) / h[k]
    return float(
        (2 * t**3 - 3 * t**2 + 1) * y[k] + (t**3 - 2 * t**2 + t) * h[k] * slopes[k]
        + (3 * t**2 - 2 * t**3) * y[k + 1] + (t**3 - t**2) * h[k] * slopes[k + 1]
    )  # fmt: skip


def test_a_matched_rate_cell_equals_a_hand_interpolation(tmp_path):
    run = write_run(tmp_path / "r", {"jpeg": JPEG, "webp": WEBP2})
    (exp,) = prepare([run], ReportOptions(resamples=0)).experiments
    rate, why = chosen_rate(exp, {})
    assert rate == pytest.approx(0.1) and why == "the lowest rate every codec reaches"
    # JPEG by hand: PCHIP through the 4 points over log10 rate (Akima reads 0.880 at 0.5 bpp).
    x = list(np.log10([r for _, r, _, _ in JPEG]))
    accuracy = [a for _, _, a, _ in JPEG]
    expected = pchip_by_hand(x, accuracy, math.log10(0.1))
    assert score_at(exp, "jpeg", "accuracy", 0.1).score.value == pytest.approx(expected, abs=1e-12)
    at_half = score_at(exp, "jpeg", "accuracy", 0.5).score.value
    assert at_half == pytest.approx(pchip_by_hand(x, accuracy, math.log10(0.5)), abs=1e-12)
    assert at_half == pytest.approx(0.8745, abs=1e-4)
    # Two points: a straight line in log rate, 0.5 + 0.4 * log(0.2 / 0.1) / log(0.4 / 0.1).
    webp = score_at(exp, "webp", "accuracy", 0.2)
    assert webp.how == "interpolated" and webp.rate == 0.2
    assert webp.score.value == pytest.approx(0.5 + 0.4 * 0.5, abs=1e-12)
    _, scores, rates = paper_table([exp]).rows
    assert scores[2].text == f"{expected:.3f}" and scores[2].mark == "dagger"
    assert scores[3].text == "0.500" and scores[3].mark == ""  # WebP measured at 0.1 bpp
    assert [c.text for c in rates[2:]] == ["0.100", "0.100"]
    assert score_at(exp, "webp", "accuracy", 0.05) is None  # below the curve: no extrapolation


def test_an_interpolated_score_stays_between_the_measured_points_around_it(tmp_path):
    # A demo's Opus curve: word accuracy rises, then stays flat from 12.9 to 24.9 kbps; at the
    # common rate, 17.6 kbps, Akima read 0.939, above both points and the uncompressed input.
    opus = [(6, 6.8, 0.844, 0.0), (12, 12.9, 0.928, 9.6), (24, 24.9, 0.928, 14.5)]
    aac = [(16, 17.6, 0.944, 12.3), (32, 33.8, 0.928, 17.9)]
    run = write_run(tmp_path / "r", {"opus": opus, "aac": aac}, n=250, unit="kbps",
                    reference_accuracy=0.928)  # fmt: skip
    (exp,) = prepare([run], ReportOptions(resamples=200)).experiments
    assert chosen_rate(exp, {})[0] == pytest.approx(17.6)
    cell = score_at(exp, "opus", "accuracy", 17.6)
    assert cell.how == "interpolated"
    below, above = (p.summary.scores["accuracy"] for p in exp.curves()["opus"][1:])
    for field in ("value", "ci_low", "ci_high"):
        low, high = sorted([getattr(below, field), getattr(above, field)])
        assert low <= getattr(cell.score, field) <= high, field
    assert cell.score.value <= exp.reference.scores["accuracy"].value
    _, scores, _ = paper_table([exp]).rows
    assert (scores[1].text, scores[3].text, scores[3].mark) == ("0.928", "0.928", "dagger")


def test_the_runs_rate_target_is_the_common_rate_when_every_codec_reads_there(tmp_path):
    run = write_run(
        tmp_path / "r", {"jpeg": JPEG, "webp": WEBP2},
        targets={"jpeg": [(0.25, 0.24, 0.7, 29.0)], "webp": [(0.25, 0.245, 0.86, 30.0)]},
    )  # fmt: skip
    (exp,) = prepare([run], ReportOptions(resamples=0)).experiments
    assert chosen_rate(exp, {}) == (0.25, "the run's rate target")
    _, scores, rates = paper_table([exp]).rows
    assert [(c.text, c.mark) for c in scores[2:]] == [("0.700", "ddagger"), ("0.860", "ddagger")]
    assert [c.text for c in rates[2:]] == ["0.240", "0.245"]
    _, scores, _ = paper_table([exp], at_rate={"classify": 0.32}).rows
    assert (scores[2].text, scores[2].mark) == ("0.800", "")


def test_primary_score_skips_agreement_scores(tmp_path):
    run = write_run(tmp_path / "r", {"jpeg": JPEG})
    (exp,) = prepare([run], ReportOptions(resamples=0)).experiments
    exp.scores = {"agreement": {"label": "Top-1 agreement with the uncompressed prediction"},
                  **exp.scores}  # fmt: skip
    assert primary_score(exp) == "accuracy"
    assert primary_score(exp, "agreement") == "agreement"

import math

import numpy as np
import pytest
from scipy.interpolate import Akima1DInterpolator, PchipInterpolator
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


def test_a_matched_rate_cell_equals_a_hand_interpolation(tmp_path):
    run = write_run(tmp_path / "r", {"jpeg": JPEG, "webp": WEBP2})
    (exp,) = prepare([run], ReportOptions(resamples=0)).experiments
    rate, why = chosen_rate(exp, {})
    assert rate == pytest.approx(0.1) and why == "the lowest rate every codec reaches"
    # JPEG at 0.1 bpp, by hand: Akima through the 4 points over log10 rate.
    x = np.log10([r for _, r, _, _ in JPEG])
    expected = float(Akima1DInterpolator(x, [a for _, _, a, _ in JPEG])(math.log10(0.1)))
    assert score_at(exp, "jpeg", "accuracy", 0.1).score.value == pytest.approx(expected, abs=1e-12)
    # Two points: a straight line in log rate, 0.5 + 0.4 * log(0.2 / 0.1) / log(0.4 / 0.1).
    webp = score_at(exp, "webp", "accuracy", 0.2)
    assert webp.how == "interpolated" and webp.rate == 0.2
    assert webp.score.value == pytest.approx(0.5 + 0.4 * 0.5, abs=1e-12)
    pchip = float(PchipInterpolator(x, [a for _, _, a, _ in JPEG])(math.log10(0.2)))
    assert score_at(exp, "jpeg", "accuracy", 0.2, "pchip").score.value == pytest.approx(pchip)
    _, scores, rates = paper_table([exp]).rows
    assert scores[2].text == f"{expected:.3f}" and scores[2].mark == "dagger"
    assert scores[3].text == "0.500" and scores[3].mark == ""  # WebP measured at 0.1 bpp
    assert [c.text for c in rates[2:]] == ["0.100", "0.100"]
    assert score_at(exp, "webp", "accuracy", 0.05) is None  # below the curve: no extrapolation


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

import warnings

import bjontegaard
import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator

from mpq.report.bd import bd_metric, bd_rate

RATES = [0.05, 0.1, 0.2, 0.4]
SCORES = [0.40, 0.55, 0.68, 0.75]


@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_constant_rate_saving_gives_that_bd_rate(method):
    test = ([r * 0.8 for r in RATES], SCORES)  # same scores at 80% of the rate
    assert bd_rate((RATES, SCORES), test, method).value == pytest.approx(-20.0, abs=1e-9)


@pytest.mark.parametrize("method", ["akima", "pchip"])
def test_constant_score_gain_gives_that_bd_metric(method):
    test = (RATES, [s + 0.05 for s in SCORES])
    assert bd_metric((RATES, SCORES), test, method).value == pytest.approx(0.05, abs=1e-12)


def test_matches_the_package_on_its_published_example_in_any_point_order():
    rate_a, psnr_a = [9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851]
    rate_t, psnr_t = [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987]
    expected = bjontegaard.bd_rate(rate_a, psnr_a, rate_t, psnr_t, method="pchip")
    shuffled = ([rate_a[i] for i in (2, 0, 3, 1)], [psnr_a[i] for i in (2, 0, 3, 1)])
    got = bd_rate(shuffled, (rate_t, psnr_t), "pchip").value
    assert got == pytest.approx(expected, abs=1e-10)
    assert -5 < got < 0  # the test encoder saves a little rate


def test_pchip_bd_rate_matches_an_independent_numerical_integration():
    anchor = (RATES, SCORES)
    test = ([0.06, 0.09, 0.22, 0.35], [0.42, 0.53, 0.70, 0.74])
    lo, hi = max(min(SCORES), 0.42), min(max(SCORES), 0.74)
    grid = np.linspace(lo, hi, 200001)
    log_a = PchipInterpolator(SCORES, np.log10(RATES))(grid)
    log_t = PchipInterpolator(test[1], np.log10(test[0]))(grid)
    mean_diff = np.trapz(log_t - log_a, grid) / (hi - lo)
    assert bd_rate(anchor, test, "pchip").value == pytest.approx(
        (10**mean_diff - 1) * 100, abs=1e-6
    )


@pytest.mark.parametrize(
    ("test", "reason"),
    [
        (([0.1], [0.5]), "has 1 point"),
        (([0.05, 0.1, 0.2, 0.4], [0.4, 0.7, 0.6, 0.8]), "not strictly monotone"),
        (([5, 10, 20, 40], [0.9, 0.92, 0.94, 0.96]), "share 0%"),
        (([0.05, 0.1], [0.4, float("nan")]), "non-finite"),
    ],
)
def test_uncomputable_deltas_are_nan_with_a_reason(test, reason):
    with pytest.warns(UserWarning, match="BD delta not computed"):
        delta = bd_rate((RATES, SCORES), test)
    assert np.isnan(delta.value) and reason in delta.reason


def test_a_falling_score_curve_is_fine_when_lower_is_better():
    wer = [0.6, 0.4, 0.3, 0.25]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        delta = bd_rate((RATES, wer), ([r / 2 for r in RATES], wer), higher_is_better=False)
    assert delta.value == pytest.approx(-50)


@pytest.mark.parametrize(
    ("scores", "higher_is_better", "reason"),
    [
        ([0.944, 0.928], True, "the test curve gets worse as rate rises (higher is better)"),
        ([0.25, 0.3], False, "the test curve gets worse as rate rises (lower is better)"),
    ],
)
def test_a_curve_that_gets_worse_with_rate_has_no_bd_rate(scores, higher_is_better, reason):
    anchor = ([8.5, 16.7, 32.8], [0.648, 0.928, 0.956])
    if not higher_is_better:
        anchor = (anchor[0], [1 - s for s in anchor[1]])
    with pytest.warns(UserWarning, match="gets worse as rate rises"):
        delta = bd_rate(anchor, ([17.6, 33.8], scores), higher_is_better=higher_is_better)
    assert np.isnan(delta.value) and delta.reason == reason
    # BD-metric needs no invertible curve and is still computed.
    metric = bd_metric(anchor, ([17.6, 33.8], scores))
    assert np.isfinite(metric.value) and metric.reason == ""

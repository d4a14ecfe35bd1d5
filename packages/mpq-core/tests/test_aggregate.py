import jiwer
import numpy as np
import pytest

from mpq.core.aggregate import AGGREGATORS, _resample_indices, aggregate, aggregate_many


def test_mean_and_nan_items_dropped():
    result = aggregate("mean", [[1, 0, 1, 1, np.nan]], resamples=0)
    assert result.value == 0.75 and result.n == 4


def test_miou_sums_then_divides_then_averages_present_classes():
    # Two images, three classes. Class 2 never occurs (union 0 everywhere): excluded.
    # Image A: class 0 I=8 U=10, class 1 I=0 U=2 (predicted but absent: union counts).
    # Image B: class 0 I=1 U=4, class 1 I=6 U=6.
    intersections = [[8, 0, 0], [1, 6, 0]]
    unions = [[10, 2, 0], [4, 6, 0]]
    result = aggregate("class_mean_ratio_of_sums", [intersections, unions], resamples=0)
    expected = ((8 + 1) / (10 + 4) + (0 + 6) / (2 + 6)) / 2
    assert result.value == pytest.approx(expected)
    # Not the mean of per-image mIoUs:
    per_image = np.mean([np.mean([0.8, 0.0]), np.mean([0.25, 1.0])])
    assert result.value != pytest.approx(per_image)


def test_miou_from_label_maps_matches_independent_computation():
    rng = np.random.default_rng(1)
    truths = [rng.integers(0, 4, (9, 7)) for _ in range(5)]
    preds = [np.where(rng.random(t.shape) < 0.7, t, rng.integers(0, 4, t.shape)) for t in truths]
    inter = [
        [np.sum((p == c) & (t == c)) for c in range(5)] for p, t in zip(preds, truths, strict=True)
    ]
    union = [
        [np.sum((p == c) | (t == c)) for c in range(5)] for p, t in zip(preds, truths, strict=True)
    ]
    got = aggregate("class_mean_ratio_of_sums", [inter, union], resamples=0).value
    allp, allt = (
        np.concatenate([p.ravel() for p in preds]),
        np.concatenate([t.ravel() for t in truths]),
    )
    ious = [np.sum((allp == c) & (allt == c)) / np.sum((allp == c) | (allt == c)) for c in range(4)]
    assert got == pytest.approx(np.mean(ious))


def test_corpus_wer_matches_jiwer_and_is_not_a_mean_of_wers():
    refs = ["the cat sat on the mat", "hello", "a b c d e f g h"]
    hyps = ["the cat sat on mat", "yellow", "a b c d e f g x"]
    errors, words = [], []
    for r, h in zip(refs, hyps, strict=True):
        out = jiwer.process_words(r, h)
        errors.append(out.substitutions + out.deletions + out.insertions)
        words.append(len(r.split()))
    wer = aggregate("ratio_of_sums", [errors, words], resamples=0).value
    assert wer == pytest.approx(jiwer.wer(refs, hyps))
    assert wer != pytest.approx(np.mean([jiwer.wer(r, h) for r, h in zip(refs, hyps, strict=True)]))
    wra = aggregate("one_minus_ratio_of_sums", [errors, words], resamples=0).value
    assert wra == pytest.approx(1 - jiwer.wer(refs, hyps))


def test_sisec_median_over_tracks_of_framewise_medians():
    rng = np.random.default_rng(2)
    frames = [rng.normal(loc, 2, size=rng.integers(20, 60)) for loc in (3, 5, 4, 9)]
    per_track = [np.median(f) for f in frames]
    got = aggregate("median", [per_track], resamples=0).value
    assert got == pytest.approx(np.median(per_track))
    assert got == pytest.approx((sorted(per_track)[1] + sorted(per_track)[2]) / 2)


@pytest.mark.parametrize("n", [1, 2, 5, 6, 101])
def test_weighted_median_matches_numpy(n):
    values = np.random.default_rng(n).normal(size=n)
    assert aggregate("median", [values], resamples=0).value == pytest.approx(np.median(values))


def test_bootstrap_is_seeded():
    values = np.random.default_rng(0).normal(size=40)
    a = aggregate("mean", [values], resamples=200, seed=7)
    b = aggregate("mean", [values], resamples=200, seed=7)
    c = aggregate("mean", [values], resamples=200, seed=8)
    assert (a.ci_low, a.ci_high) == (b.ci_low, b.ci_high)
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)
    assert a.ci_low < a.value < a.ci_high


def test_bootstrap_ci_covers_known_mean_about_95_percent():
    rng = np.random.default_rng(123)
    trials, hits = 300, 0
    for trial in range(trials):
        sample = rng.exponential(scale=2.0, size=80)  # true mean 2.0, skewed
        result = aggregate("mean", [sample], resamples=400, seed=trial)
        hits += result.ci_low <= 2.0 <= result.ci_high
    coverage = hits / trials
    assert 0.88 <= coverage <= 0.98


def test_bootstrap_ci_covers_known_proportion_for_ratio_of_sums():
    rng = np.random.default_rng(5)
    hits = 0
    for trial in range(200):
        words = rng.integers(3, 30, size=60)
        errors = rng.binomial(words, 0.2)
        result = aggregate("ratio_of_sums", [errors, words], resamples=400, seed=trial)
        hits += result.ci_low <= 0.2 <= result.ci_high
    assert 0.88 <= hits / 200 <= 0.99


def test_large_input_is_chunked_and_bounded():
    values = np.random.default_rng(0).random(200_000)
    result = aggregate("mean", [values], resamples=200)
    assert result.ci_low < 0.5 < result.ci_high
    assert result.ci_high - result.ci_low < 0.01


def test_unknown_aggregator_and_wrong_arity():
    with pytest.raises(KeyError):
        aggregate("mode", [[1]])
    with pytest.raises(ValueError, match="takes 2 input"):
        aggregate("ratio_of_sums", [[1]])


@pytest.mark.parametrize("values", [[np.nan, np.nan], []])
def test_all_nan_or_no_items_gives_nan_and_zero_items(values):
    result = aggregate("mean", [values])
    assert result.n == 0 and np.isnan(result.value)
    assert aggregate("class_mean_ratio_of_sums", [values, values]).n == 0


def test_n_counts_the_items_that_contributed():
    # 18 photos, 2 labelled: accuracy over the 2, and its bootstrap resamples only those.
    correct = [np.nan] * 16 + [1.0, 0.0]
    result = aggregate("mean", [correct], resamples=200)
    assert (result.value, result.n) == (0.5, 2)
    assert 0.0 <= result.ci_low <= result.ci_high <= 1.0
    # A label map with every pixel ignored adds nothing to intersections or unions.
    inter, union = [[3, 0], [0, 0], [1, 2]], [[4, 1], [0, 0], [2, 2]]
    miou = aggregate("class_mean_ratio_of_sums", [inter, union], resamples=0)
    assert miou.n == 2 and miou.value == pytest.approx((4 / 6 + 2 / 3) / 2)
    # An utterance with no reference words still counts when the model inserted words.
    wer = aggregate("ratio_of_sums", [[2, 0, 3], [10, 0, 0]], resamples=0)
    assert wer.n == 2 and wer.value == pytest.approx(0.5)


def _by_indices(name, inputs, resamples, seed, level=0.95):
    """The bootstrap written out per resample: each statistic on the drawn items' values, with
    the seeded index matrix `aggregate` draws (one generator call per chunk of resamples)."""
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    n = len(arrays[0])
    stats = []
    for idx in _resample_indices(n, resamples, seed):
        drawn = [a[idx] for a in arrays]  # (B, n) or (B, n, classes)
        if name == "mean":
            stats.append(drawn[0].mean(axis=1))
        elif name == "median":
            stats.append(np.median(drawn[0], axis=1))
        elif name in ("ratio_of_sums", "one_minus_ratio_of_sums"):
            ratio = drawn[0].sum(axis=1) / drawn[1].sum(axis=1)
            stats.append(ratio if name == "ratio_of_sums" else 1.0 - ratio)
        else:
            num, den = drawn[0].sum(axis=1), drawn[1].sum(axis=1)
            present = den > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.where(present, num / den, 0.0)
            stats.append(ratios.sum(axis=1) / present.sum(axis=1))
    stats = np.concatenate(stats)
    stats = stats[np.isfinite(stats)]
    alpha = (1 - level) / 2
    return np.quantile(stats, [alpha, 1 - alpha])


def _random_inputs(name, n, rng):
    if name in ("mean", "median"):
        return [rng.normal(size=n)]
    if name == "class_mean_ratio_of_sums":
        union = rng.integers(0, 50, size=(n, 6)).astype(float)
        union[:, 5] = 0  # a class that never occurs
        return [np.floor(union * rng.random((n, 6))), union]
    words = rng.integers(1, 30, size=n).astype(float)
    return [rng.binomial(words.astype(int), 0.3).astype(float), words]


@pytest.mark.parametrize("name", sorted(AGGREGATORS))
@pytest.mark.parametrize("n", [2, 7, 300, 60_000])
def test_counts_bootstrap_matches_per_resample_indexing(name, n):
    # 60,000 items with 200 resamples spans several chunks of the index matrix.
    rng = np.random.default_rng(n)
    inputs = _random_inputs(name, n, rng)
    got = aggregate(name, inputs, resamples=200, seed=3)
    low, high = _by_indices(name, inputs, 200, seed=3)
    assert got.n == n
    assert abs(got.ci_low - low) < 1e-12 and abs(got.ci_high - high) < 1e-12


def test_many_aggregates_share_one_draw_and_match_lone_calls():
    rng = np.random.default_rng(9)
    requests = [(name, _random_inputs(name, 500, rng)) for name in sorted(AGGREGATORS)]
    requests.append(("mean", [np.where(rng.random(500) < 0.2, np.nan, rng.random(500))]))
    requests.append(("mean", [np.append(rng.random(499), np.inf)]))  # drawn-values path
    requests.append(("median", [[np.nan]]))
    together = aggregate_many(requests, resamples=300, seed=4)
    for (name, inputs), got in zip(requests, together, strict=True):
        alone = aggregate(name, inputs, resamples=300, seed=4)
        assert got.n == alone.n
        np.testing.assert_allclose(
            [got.value, got.ci_low, got.ci_high],
            [alone.value, alone.ci_low, alone.ci_high],
            rtol=0,
            atol=1e-12,
        )


def test_an_infinite_value_keeps_resamples_without_it_finite():
    # counts @ x would give 0 * inf = NaN for every resample, even those missing the infinite
    # item, and leave no finite resample for the interval.
    values = np.append(np.random.default_rng(1).normal(size=9), np.inf)
    got = aggregate("mean", [values], resamples=500, seed=1)
    low, high = _by_indices("mean", [values], 500, seed=1)
    assert np.isfinite([low, high]).all()
    assert (got.ci_low, got.ci_high) == (low, high)

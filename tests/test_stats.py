"""qa.stats against scipy on small cases: same statistic, same p-value, same q-values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import spatial, stats

from qa import stats as qs


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_ks_and_wasserstein_match_scipy(seed, shift):
    rng = np.random.default_rng(seed)
    a = np.sort(rng.normal(size=300))
    b = np.sort(rng.normal(shift, 1.5, size=120))
    ks, w = qs.ks_wasserstein(a, b)
    ref = stats.ks_2samp(a, b, method="asymp")
    assert ks == pytest.approx(ref.statistic, abs=1e-12)
    assert qs.ks_pvalue(ks, len(a), len(b)) == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    assert w == pytest.approx(stats.wasserstein_distance(a, b), rel=1e-9)


def test_ks_handles_ties_like_scipy():
    rng = np.random.default_rng(3)
    a = np.sort(rng.integers(0, 5, 500).astype(float))
    b = np.sort(rng.integers(1, 6, 200).astype(float))
    ks, w = qs.ks_wasserstein(a, b)
    assert ks == pytest.approx(stats.ks_2samp(a, b).statistic)
    assert w == pytest.approx(stats.wasserstein_distance(a, b))


def test_ks_of_identical_samples_is_zero_and_of_disjoint_is_one():
    a = np.arange(10.0)
    assert qs.ks_wasserstein(a, a) == (0.0, 0.0)
    assert qs.ks_statistic(a, a + 100) == 1.0


def test_sorted_finite_drops_nan_and_inf():
    out = qs.sorted_finite(np.array([3.0, np.nan, -np.inf, 1.0, np.inf, 2.0]))
    assert out.tolist() == [1.0, 2.0, 3.0]


def test_psi_matches_its_formula_and_is_zero_for_equal_shares():
    p = np.array([10.0, 20.0, 30.0, 40.0])
    q = np.array([40.0, 30.0, 20.0, 10.0])
    ps, qs_ = p / p.sum(), q / q.sum()
    assert qs.psi(p, q) == pytest.approx(np.sum((qs_ - ps) * np.log(qs_ / ps)))
    assert qs.psi(p, p * 3) == pytest.approx(0.0)
    # an empty bin stays finite thanks to the epsilon
    assert np.isfinite(qs.psi(np.array([1.0, 0.0]), np.array([0.5, 0.5])))


def test_quantile_bins_split_the_reference_evenly():
    ref = np.sort(np.random.default_rng(0).normal(size=10_000))
    edges = qs.quantile_edges(ref, 10)
    counts = qs.binned_counts(ref, edges)
    assert len(counts) == 10
    assert counts.min() >= 999 and counts.max() <= 1001
    # a constant column gives a single bin, not an error
    const = np.full(100, 5.0)
    assert qs.binned_counts(const, qs.quantile_edges(const, 10)).tolist() == [100.0]


def test_js_distance_matches_scipy():
    p = np.array([5.0, 1.0, 0.0, 4.0])
    q = np.array([1.0, 1.0, 3.0, 5.0])
    assert qs.js_distance(p, q) == pytest.approx(spatial.distance.jensenshannon(p, q, base=2))
    assert qs.js_distance(p, p) == pytest.approx(0.0, abs=1e-7)
    assert qs.js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_chi_square_matches_scipy_contingency():
    a = np.array([50.0, 30.0, 20.0, 0.0])
    b = np.array([20.0, 30.0, 45.0, 0.0])
    stat, dof, p = qs.chi_square(a, b)
    ref = stats.chi2_contingency(np.vstack([a[:3], b[:3]]), correction=False)
    assert stat == pytest.approx(ref.statistic)
    assert dof == ref.dof
    assert p == pytest.approx(ref.pvalue)
    assert qs.chi_square(np.array([5.0]), np.array([7.0])) == (0.0, 0, 1.0)


def test_two_proportion_test_matches_chi_square_2x2():
    k1, n1, k2, n2 = 30, 400, 55, 420
    p = qs.two_proportion_test(k1, n1, k2, n2)
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]])
    assert p == pytest.approx(stats.chi2_contingency(table, correction=False).pvalue)
    assert qs.two_proportion_test(0, 10, 0, 10) == 1.0


def test_cohens_h_known_values():
    assert qs.cohens_h(0.5, 0.5) == 0.0
    assert qs.cohens_h(0.0, 1.0) == pytest.approx(np.pi)
    assert qs.cohens_h(0.0, 0.05) == pytest.approx(2 * np.arcsin(np.sqrt(0.05)))


def test_binomial_excess_pvalue_matches_scipy():
    assert qs.binomial_excess_pvalue(12, 100, 0.05) == pytest.approx(
        stats.binomtest(12, 100, 0.05, alternative="greater").pvalue
    )
    assert qs.binomial_excess_pvalue(3, 100, 0.0) == 0.0
    assert qs.binomial_excess_pvalue(0, 100, 0.1) == 1.0


def test_benjamini_hochberg_matches_scipy():
    p = np.random.default_rng(0).uniform(size=40) ** 3
    np.testing.assert_allclose(qs.benjamini_hochberg(p), stats.false_discovery_control(p))
    assert qs.benjamini_hochberg(np.array([np.nan, 0.01])).tolist() == [1.0, 0.02]
    assert qs.benjamini_hochberg(np.array([])).size == 0


def _bh_by_hand(p: np.ndarray) -> np.ndarray:
    """The textbook step-up: q_(i) = min over j >= i of p_(j) n / j, capped at 1."""
    n = len(p)
    order = np.argsort(p, kind="stable")
    ranked = p[order] * n / np.arange(1, n + 1)
    q = np.empty(n)
    q[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return q


@pytest.mark.parametrize("seed", range(5))
def test_benjamini_hochberg_is_scipy_on_random_p_values_with_ties_and_nan(seed):
    rng = np.random.default_rng(seed)
    p = np.round(rng.uniform(size=60) ** 2, 2)  # rounding makes ties, zeros and ones
    p[rng.choice(60, 5, replace=False)] = np.nan
    q = qs.benjamini_hochberg(p)
    filled = np.where(np.isnan(p), 1.0, p)  # NaN = no evidence = p of 1
    np.testing.assert_array_equal(q, stats.false_discovery_control(filled, method="bh"))
    np.testing.assert_allclose(q, _bh_by_hand(filled), rtol=1e-12, atol=0)
    tied = np.isclose(filled[:, None], filled[None, :])
    assert (np.isclose(q[:, None], q[None, :]) | ~tied).all()  # equal p, equal q
    assert qs.benjamini_hochberg(np.array([1.5, -0.1])).tolist() == [1.0, 0.0]  # clipped


def test_sign_test_is_scipy_binomtest():
    for gained, lost in [(0, 0), (0, 7), (7, 0), (12, 3), (30, 31)]:
        expected = (
            1.0
            if gained + lost == 0
            else stats.binomtest(gained, gained + lost, 0.5, alternative="greater").pvalue
        )
        assert qs.sign_test(gained, lost) == pytest.approx(expected, rel=1e-12)
        assert qs.sign_test(gained, lost) == pytest.approx(
            stats.binom.sf(gained - 1, gained + lost, 0.5) if gained + lost else 1.0, rel=1e-9
        )


# --------------------------------------------------------------------------- energy distance
def test_energy_statistic_is_the_unbiased_energy_distance():
    rng = np.random.default_rng(20)
    x, y = rng.normal(size=(40, 3)), rng.normal(0.5, 1.0, size=(25, 3))
    cross = spatial.distance.cdist(x, y).mean()
    within_x = spatial.distance.pdist(x).mean()  # over pairs i < j, the U-statistic
    within_y = spatial.distance.pdist(y).mean()
    result = qs.energy_test(x, y, permutations=199, seed=0)
    assert result.statistic == pytest.approx(2 * cross - within_x - within_y, rel=1e-9)


def test_energy_test_p_values_are_calibrated_and_catch_a_shift():
    rng = np.random.default_rng(21)
    null_p = [
        qs.energy_test(rng.normal(size=(60, 4)), rng.normal(size=(20, 4)), 199, s).p
        for s in range(60)
    ]
    assert 0.02 <= np.mean(np.array(null_p) < 0.1) <= 0.22  # about 10 % below 0.1
    shifted = qs.energy_test(rng.normal(size=(60, 4)), rng.normal(1.0, 1.0, size=(20, 4)), 999, 0)
    assert shifted.p < 0.01 and shifted.statistic > shifted.critical
    again = qs.energy_test(rng.normal(size=(60, 4)), rng.normal(size=(20, 4)), 999, 0)
    assert again.p > 0.01


def test_shift_energy_matches_the_normal_closed_form_and_inverts():
    from scipy.stats import norm

    rng = np.random.default_rng(22)
    curve = qs.shift_energy(rng.normal(size=(2000, 1)))

    def exact(delta: float) -> float:  # 2 (E|D + delta| - E|D|), D ~ N(0, 2)
        s = np.sqrt(2.0)
        folded = s * np.sqrt(2 / np.pi) * np.exp(-(delta**2) / (2 * s * s)) + delta * (
            1 - 2 * norm.cdf(-delta / s)
        )
        return 2 * (folded - s * np.sqrt(2 / np.pi))

    for delta in (0.2, 0.5, 1.0):
        assert curve(delta) == pytest.approx(exact(delta), rel=0.1, abs=2e-3)
    assert qs.equivalent_shift(curve, curve(0.5)) == pytest.approx(0.5, abs=0.01)
    assert qs.equivalent_shift(curve, 0.0) == 0.0


def test_ks_detectable_shift_is_where_the_ks_test_turns_significant():
    from scipy.stats import kstwo, norm

    delta = qs.ks_detectable_shift(400, 100, 0.01)
    population_ks = 2 * norm.cdf(delta / 2) - 1
    assert kstwo.sf(population_ks, 80) == pytest.approx(0.01, rel=1e-6)
    assert qs.ks_detectable_shift(4000, 1000, 0.01) < delta < qs.ks_detectable_shift(40, 10, 0.01)

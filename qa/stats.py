"""Statistics shared by the checks: two-sample tests, effect sizes and multiple-testing control.

Everything works on plain numpy arrays and is vectorised (no Python loop over rows). The
two-sample functions take *sorted, finite* samples, so a caller sorts each column once and
reuses it for KS, Wasserstein and PSI. scipy is imported inside the functions that need a
distribution's tail (p-values) only.

Conventions (documented once, used by every check):

- ``ks_wasserstein(a, b)``: exact two-sample Kolmogorov–Smirnov statistic and the 1-Wasserstein
  distance between the two empirical distributions, from one merge of the sorted samples.
- ``psi``: population stability index, sum((q - p) * ln(q / p)) with shares clipped at ``eps``
  (1e-4) so that an empty bin contributes a finite amount. Reading: < 0.1 no real change,
  0.1–0.2 moderate, >= 0.2 major shift.
- ``js_distance``: Jensen–Shannon *distance* (square root of the divergence), base 2, in [0, 1].
- ``chi_square``: Pearson's test of homogeneity on a 2 x B table of counts (scipy's
  ``chi2_contingency``).
- ``cohens_h``: effect size of a change in a proportion, 2*asin(sqrt(p1)) - 2*asin(sqrt(p2)).
- ``benjamini_hochberg``: adjusted p-values (q-values) that control the false discovery rate
  (scipy's ``false_discovery_control``); every check that controls the FDR calls this one.
- ``energy_test``: multivariate two-sample permutation test on the energy distance (rows are
  observations); ``shift_energy`` / ``equivalent_shift`` translate an energy distance into the
  single-column mean shift (in the columns' units) that would cause it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Shares below this are clipped in PSI so an empty bin stays finite.
PSI_EPS = 1e-4


# --------------------------------------------------------------------------- preparation
def sorted_finite(values: np.ndarray) -> np.ndarray:
    """The finite values of ``values`` as a sorted float64 array (NaN and ±inf dropped)."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    arr.sort()
    return arr


# --------------------------------------------------------------------------- numeric samples
def ks_wasserstein(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Exact KS statistic and 1-Wasserstein distance of two sorted, finite, non-empty samples.

    One stable argsort of the concatenation merges the two sorted runs in linear time; the two
    empirical CDFs are then cumulative counts, evaluated at the last value of every run of ties.
    """
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("both samples must be non-empty")
    merged = np.concatenate([a, b])
    order = np.argsort(merged, kind="stable")
    values = merged[order]
    del merged
    # F_a - F_b after k merged values, i of them from a: (i(n + m) - k n) / (n m), exactly
    diff = np.cumsum(order < n, dtype=np.int64)
    diff *= n + m
    diff -= np.arange(n, n * (n + m) + 1, n, dtype=np.int64)
    np.abs(diff, out=diff)
    gap = diff / (n * m)
    del diff
    step = np.diff(values)
    ties = step == 0
    if ties.any():  # evaluate the CDFs only after the last of equal values
        last = np.append(~ties, True)
        gap, step = gap[last], np.diff(values[last])
    ks = float(gap.max())
    wasserstein = float(np.dot(gap[:-1], step)) if len(gap) > 1 else 0.0
    return min(ks, 1.0), wasserstein


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample KS statistic of two sorted, finite samples."""
    return ks_wasserstein(a, b)[0]


def ks_pvalue(statistic: float, n: int, m: int) -> float:
    """Two-sided asymptotic p-value of the two-sample KS statistic (scipy's ``asymp`` method)."""
    from scipy.stats import kstwo

    if n == 0 or m == 0:
        return 1.0
    en = n * m / (n + m)
    return float(np.clip(kstwo.sf(statistic, round(en)), 0.0, 1.0))


def quantile_edges(ref_sorted: np.ndarray, bins: int) -> np.ndarray:
    """Interior bin edges at the reference's quantiles (unique; bins are right-closed)."""
    if len(ref_sorted) == 0 or bins < 2:
        return np.empty(0)
    positions = (np.arange(1, bins) * len(ref_sorted)) // bins
    edges = np.unique(ref_sorted[np.clip(positions, 0, len(ref_sorted) - 1)])
    # The largest value as an edge would leave an empty last bin in the reference.
    return edges[edges < ref_sorted[-1]]


def binned_counts(values_sorted: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of a sorted sample in the bins (-inf, e1], (e1, e2], ..., (ek, inf)."""
    cuts = np.searchsorted(values_sorted, edges, side="right")
    bounds = np.concatenate([[0], cuts, [len(values_sorted)]])
    return np.diff(bounds).astype(np.float64)


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = PSI_EPS) -> float:
    """Population stability index between two count (or share) vectors over the same bins."""
    p = _shares(expected)
    q = _shares(actual)
    if p is None or q is None:
        return 0.0
    p = np.clip(p, eps, None)
    q = np.clip(q, eps, None)
    return float(np.sum((q - p) * np.log(q / p)))


def _shares(counts: np.ndarray) -> np.ndarray | None:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return counts / total if total > 0 else None


def js_distance(expected: np.ndarray, actual: np.ndarray) -> float:
    """Jensen–Shannon distance (base 2, in [0, 1]; the square root of the divergence) between
    two count vectors: scipy's ``jensenshannon``; 0 when either vector is empty."""
    from scipy.spatial.distance import jensenshannon

    p, q = _shares(expected), _shares(actual)
    if p is None or q is None:
        return 0.0
    distance = float(jensenshannon(p, q, base=2))
    return min(1.0, distance) if np.isfinite(distance) else 0.0


def chi_square(expected: np.ndarray, actual: np.ndarray) -> tuple[float, int, float]:
    """Pearson chi-square test of homogeneity on the 2 x B table (statistic, dof, p-value).

    scipy's ``chi2_contingency`` without Yates' correction. Bins empty in both samples are
    dropped; with fewer than two bins left, or an empty sample, there is nothing to test and
    the p-value is 1.
    """
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(expected, float), np.asarray(actual, float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), int(result.dof), float(result.pvalue)


# --------------------------------------------------------------------------- proportions
def cohens_h(p1: float, p2: float) -> float:
    """Absolute Cohen's h between two proportions (0.2 small, 0.5 medium, 0.8 large)."""
    return abs(
        2 * math.asin(math.sqrt(min(max(p1, 0.0), 1.0)))
        - 2 * math.asin(math.sqrt(min(max(p2, 0.0), 1.0)))
    )


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided pooled z-test p-value for k1/n1 vs k2/n2 (1.0 when nothing can differ)."""
    from scipy.stats import norm

    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    if pooled <= 0.0 or pooled >= 1.0:
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (k1 / n1 - k2 / n2) / se
    return float(2 * norm.sf(abs(z)))


def binomial_excess_pvalue(k: int, n: int, p0: float) -> float:
    """One-sided p-value that k successes in n trials exceed the rate p0."""
    from scipy.stats import binom

    if n == 0 or k == 0:
        return 1.0
    if p0 <= 0.0:
        return 0.0
    if p0 >= 1.0:
        return 1.0
    return float(binom.sf(k - 1, n, p0))


def sign_test(gained: int, lost: int) -> float:
    """One-sided exact sign test on paired discordant outcomes (scipy's ``binomtest``).

    P(at least ``gained`` of the ``gained + lost`` discordant pairs favour the challenger)
    when either side is equally likely; 1.0 when there is no discordant pair.
    """
    from scipy.stats import binomtest

    total = gained + lost
    if total == 0:
        return 1.0
    return float(binomtest(gained, total, 0.5, alternative="greater").pvalue)


# --------------------------------------------------------------------------- multiple testing
def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input order.

    The one BH of the project: scipy's ``false_discovery_control(method="bh")``. A test is a
    discovery at false discovery rate ``alpha`` when its q-value is <= alpha. NaN p-values
    are treated as 1 (no evidence) and others are clipped to [0, 1]; an empty input gives an
    empty output.
    """
    from scipy.stats import false_discovery_control

    p = np.asarray(pvalues, dtype=np.float64).ravel()
    if p.size == 0:
        return p.copy()
    p = np.where(np.isnan(p), 1.0, np.clip(p, 0.0, 1.0))
    return np.asarray(false_discovery_control(p, method="bh"), dtype=np.float64)


# --------------------------------------------------------------------------- multivariate samples
@dataclass(frozen=True)
class EnergyTest:
    """Result of a two-sample energy-distance permutation test.

    ``statistic`` is the unbiased (U-statistic) estimate of the energy distance
    2 E|X - Y| - E|X - X'| - E|Y - Y'|; ``p`` the permutation p-value (1 + #{permuted >=
    observed}) / (1 + permutations); ``critical`` the permutation (1 - alpha) quantile, the
    smallest estimate the test calls significant.
    """

    statistic: float
    p: float
    critical: float
    permutations: int


def pairwise_distances(x: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``x`` (n x n, zero diagonal)."""
    x = np.asarray(x, dtype=np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)


def energy_test(
    x: np.ndarray, y: np.ndarray, permutations: int = 999, seed: int = 0, alpha: float = 0.01
) -> EnergyTest:
    """Permutation test of equal distributions from the energy distance of two samples (rows).

    All permutations are scored at once from one distance matrix: with a 0/1 label vector z
    (1 = sample y), the within-y sum is z'Dz and the y-row sum is z'D1, so one matrix product
    D Z gives every permutation's statistic. Cost O(N^2 permutations) for N = len(x) + len(y);
    keep N in the hundreds.
    """
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("each sample needs at least two rows")
    dist = pairwise_distances(np.vstack([x, y]))
    rowsum = dist.sum(axis=1)
    total = rowsum.sum()
    observed = np.concatenate([np.zeros(n), np.ones(m)])
    rng = np.random.default_rng(seed)
    labels = np.empty((n + m, permutations + 1))
    labels[:, 0] = observed
    labels[:, 1:] = rng.permuted(np.tile(observed, (permutations, 1)), axis=1).T
    within_y = np.einsum("ij,ij->j", labels, dist @ labels)
    y_rows = rowsum @ labels
    cross = y_rows - within_y
    within_x = total - 2.0 * y_rows + within_y
    energy = 2.0 * cross / (n * m) - within_x / (n * (n - 1)) - within_y / (m * (m - 1))
    null = energy[1:]
    p = (1.0 + np.count_nonzero(null >= energy[0] - 1e-12)) / (permutations + 1.0)
    critical = float(np.quantile(null, 1.0 - alpha)) if permutations else float("inf")
    return EnergyTest(float(energy[0]), float(p), critical, permutations)


def shift_energy(reference: np.ndarray, max_cells: int = 300_000) -> Callable[[float], float]:
    """The energy distance a mean shift of ``delta`` in one column would cause, as a function.

    For a shift v the energy distance between X and X + v is 2 (E|D + v| - E|D|) with D = X - X'
    the difference of two independent rows; it is estimated from the pairs of rows of the
    (standardised) ``reference`` and averaged over the columns shifted. The function is even and
    convex in delta, so increasing for delta >= 0. At most ``max_cells`` pair x column cells.
    """
    ref = np.asarray(reference, dtype=np.float64)
    k, d = ref.shape
    rows = int(min(k, max(2, math.isqrt(2 * max_cells // max(d, 1)))))
    ref = ref[:rows]
    i, j = np.triu_indices(rows, 1)
    diffs = ref[i] - ref[j]
    norm2 = np.einsum("ij,ij->i", diffs, diffs)
    base = float(np.sqrt(norm2).mean())

    def energy(delta: float) -> float:
        # Both signs of the shift: D is symmetric, and averaging them cancels the sample's
        # first-order term, which would otherwise swamp small shifts.
        total = 0.0
        for sign in (1.0, -1.0):
            moved = norm2[:, None] + (2.0 * sign * delta) * diffs + delta * delta
            total += float(np.sqrt(np.maximum(moved, 0.0)).mean())
        return 2.0 * (0.5 * total - base)

    return energy


def equivalent_shift(energy: Callable[[float], float], target: float, upper: float = 20.0) -> float:
    """The smallest delta in [0, upper] with energy(delta) >= target (bisection), else upper."""
    if target <= 0.0:
        return 0.0
    if energy(upper) < target:
        return upper
    lo, hi = 0.0, upper
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if energy(mid) >= target:
            hi = mid
        else:
            lo = mid
        if hi - lo < 5e-3:
            break
    return hi


def ks_detectable_shift(n: int, m: int, alpha: float) -> float:
    """The normal mean shift (in SDs) whose KS distance just reaches significance at ``alpha``.

    The critical KS statistic D* of samples of n and m rows is turned into the location shift
    delta of two unit normals with that population KS distance, D = 2 Phi(delta / 2) - 1: the
    shift a KS test detects about half the time.
    """
    from scipy.stats import kstwo, kstwobign, norm

    if n == 0 or m == 0:
        return math.inf
    en = max(1, round(n * m / (n + m)))
    if en <= 2000:
        critical = float(kstwo.isf(alpha, en))
    else:  # the exact inverse gets slow; the Kolmogorov limit is within 1 % here
        critical = float(kstwobign.isf(alpha)) / math.sqrt(en)
    if critical >= 1.0:
        return math.inf
    return float(2.0 * norm.ppf((1.0 + critical) / 2.0))


# --------------------------------------------------------------------------- binned samples
# Two samples counted on shared bins (a profile's histogram): bin i of ``len(edges) + 1`` is
# ``(-inf, e_0)``, ``[e_0, e_1)``, ..., ``[e_k, +inf]``.
def binned_ks(expected: np.ndarray, actual: np.ndarray) -> float:
    """KS statistic of two samples from their counts on shared bins: the largest gap between
    the two CDFs at the bin edges, where both are known exactly. A lower bound of the exact
    statistic, short of it by at most the mass of one bin; 0 when either sample is empty."""
    p, q = _shares(expected), _shares(actual)
    if p is None or q is None:
        return 0.0
    return float(min(1.0, np.max(np.abs(np.cumsum(p) - np.cumsum(q)))))


def quantile_groups(counts: np.ndarray, bins: int) -> np.ndarray:
    """Fine bins merged into at most ``bins`` groups of about equal reference frequency: the
    group (0, 1, ...) of every fine bin.

    The binned counterpart of :func:`quantile_edges`: a group ends with the fine bin holding
    the reference's value of rank ``(j * n) // bins``, so groups match those edges up to the
    width of one fine bin (ties stay in one group; no group ends on the last non-empty bin).
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = int(counts.sum())
    if total == 0 or bins < 2:
        return np.zeros(len(counts), dtype=np.int64)
    ranks = (np.arange(1, bins) * total) // bins
    ends = np.unique(np.searchsorted(np.cumsum(counts), ranks, side="right"))
    last = int(np.flatnonzero(counts)[-1])
    ends = ends[ends < last]
    return np.searchsorted(ends, np.arange(len(counts)), side="left").astype(np.int64)


def merge_bins(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Counts summed per group (see :func:`quantile_groups`)."""
    size = int(groups.max()) + 1 if len(groups) else 0
    return np.bincount(groups, weights=np.asarray(counts, dtype=np.float64), minlength=size)


def bin_points(edges: np.ndarray, low: float, high: float) -> np.ndarray:
    """One point per bin standing for its values: the mid-point of the bin clipped to the
    sample's own finite range ``[low, high]`` (so the outer bins sit at its extremes)."""
    edges = np.asarray(edges, dtype=np.float64)
    lefts = np.maximum(np.concatenate([[-np.inf], edges]), low)
    rights = np.minimum(np.concatenate([edges, [np.inf]]), high)
    return np.clip((lefts + rights) / 2.0, low, high)


def weighted_wasserstein(x: np.ndarray, wx: np.ndarray, y: np.ndarray, wy: np.ndarray) -> float:
    """1-Wasserstein distance between two weighted point sets (e.g. bins at their points):
    the integral of the absolute CDF difference; 0 when either has no weight."""
    p, q = _shares(wx), _shares(wy)
    if p is None or q is None:
        return 0.0
    points = np.concatenate([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    order = np.argsort(points, kind="stable")
    gap = np.cumsum(np.concatenate([p, -q])[order])
    return float(np.dot(np.abs(gap[:-1]), np.diff(points[order])))


def weighted_quantile(points: np.ndarray, weights: np.ndarray, share: float) -> float:
    """The point holding rank ``int(share * total)`` of the weight (points sorted), as the
    rows' chart takes ``x[int(share * n)]`` of a sorted sample."""
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    rank = min(cumulative[-1] - 1, int(share * cumulative[-1]))
    index = min(len(points) - 1, int(np.searchsorted(cumulative, rank, side="right")))
    return float(points[index])


# --------------------------------------------------------------------------- rates
def rate_lower_bound(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper–Pearson lower bound of a rate seen as ``k`` of ``n``."""
    from scipy.stats import beta

    if k <= 0 or n <= 0:
        return 0.0
    return float(beta.ppf(1.0 - confidence, k, n - k + 1))


def wilson_interval(
    successes: np.ndarray, n: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Wilson score interval of binomial proportions (NaN where ``n`` is 0); its
    ends are one-sided bounds at ``(1 + confidence) / 2``."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.asarray(successes, dtype=float) / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(np.maximum(p * (1 - p), 0.0) / n + z**2 / (4 * n**2)) / denom
    lower = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    upper = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return lower, upper


# --------------------------------------------------------------------------- ranges
def widened_range(
    train_min: float, train_max: float, tolerance: float, neg_inf: bool, pos_inf: bool
) -> tuple[float, float]:
    """The allowed low and high: train's finite range widened by ``tolerance`` of its width on
    each side (of ``|max|`` for a constant column); infinite on a side where train had an
    infinity. The schema check's rule; the engines frame their bins with the same bounds and
    applicability judges production rows by it."""
    span = train_max - train_min
    margin = tolerance * (span if span > 0 else abs(train_max))
    return (
        -math.inf if neg_inf else train_min - margin,
        math.inf if pos_inf else train_max + margin,
    )

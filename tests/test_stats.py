"""stats.py against closed forms and published values: Wilson, Newcombe, the seed bootstrap."""

import math

import numpy as np
import pytest

from rnnbench import stats

Z = 1.959963984540054


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    """Wilson (1927): (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), in plain math."""
    p = k / n
    centre = p + Z * Z / (2 * n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return (centre - half) / (1 + Z * Z / n), (centre + half) / (1 + Z * Z / n)


@pytest.mark.parametrize(("k", "n"), [(0, 5), (5, 5), (3, 10), (1, 2), (7, 40)])
def test_wilson_equals_its_closed_form(k, n):
    low, high = stats.wilson_interval(k, n)
    assert (low, high) == pytest.approx(wilson_by_hand(k, n), abs=1e-12)
    assert 0 <= low <= k / n <= high <= 1


def test_wilson_at_the_edges_and_textbook_values():
    # 0/n: [0, z^2 / (n + z^2)]; n/n: [n / (n + z^2), 1]
    assert stats.wilson_interval(0, 5) == pytest.approx((0.0, Z**2 / (5 + Z**2)), abs=1e-12)
    assert stats.wilson_interval(5, 5) == pytest.approx((5 / (5 + Z**2), 1.0), abs=1e-12)
    assert stats.wilson_interval(81, 263) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    # The brief's example: 3 of 5 is "60% [23%, 88%]".
    assert stats.wilson_interval(3, 5) == pytest.approx((0.2307, 0.8824), abs=5e-5)
    assert all(math.isnan(v) for v in stats.wilson_interval(0, 0))


def test_wilson_broadcasts_over_arrays():
    low, high = stats.wilson_interval(np.array([0, 3, 5]), np.array([5, 10, 5]))
    for i, (k, n) in enumerate([(0, 5), (3, 10), (5, 5)]):
        assert (low[i], high[i]) == pytest.approx(stats.wilson_interval(k, n))


@pytest.mark.parametrize(
    ("k1", "n1", "k2", "n2", "expected"),
    [  # Newcombe (1998), Table II, method 10 (hybrid score)
        (56, 70, 48, 80, (0.0524, 0.3339)),
        (9, 10, 3, 10, (0.1705, 0.8090)),
        (6, 7, 2, 7, (0.0582, 0.8062)),
        (5, 56, 0, 29, (-0.0381, 0.1926)),
        (0, 10, 0, 20, (-0.1611, 0.2775)),
        (10, 10, 0, 20, (0.6791, 1.0000)),
    ],
)
def test_newcombe_matches_the_published_examples(k1, n1, k2, n2, expected):
    assert stats.newcombe_interval(k1, n1, k2, n2) == pytest.approx(expected, abs=5e-5)


def test_newcombe_is_antisymmetric_and_equals_mover_on_wilson():
    low, high = stats.newcombe_interval(3, 9, 7, 11)
    assert stats.newcombe_interval(7, 11, 3, 9) == pytest.approx((-high, -low))
    mover = stats.mover_interval(
        3 / 9, stats.wilson_interval(3, 9), 7 / 11, stats.wilson_interval(7, 11)
    )
    assert mover == pytest.approx((low, high))
    assert all(math.isnan(v) for v in stats.newcombe_interval(0, 0, 1, 2))


def test_bootstrap_is_deterministic_and_uses_the_fixed_seed():
    values = np.array([0.3, 0.1, 0.7, 0.4, 0.9, 0.2])
    a = stats.bootstrap_interval(values, np.mean)
    assert a == stats.bootstrap_interval(values, np.mean)  # same tables, same interval
    assert a != stats.bootstrap_interval(values, np.mean, seed=1)
    idx = stats.resample_indices(6)
    assert idx.shape == (stats.N_RESAMPLES, 6) and idx.min() == 0 and idx.max() == 5
    np.testing.assert_array_equal(idx, stats.resample_indices(6))
    means = values[idx].mean(1)
    assert a == (
        np.quantile(means, 0.025, method="inverted_cdf"),
        np.quantile(means, 0.975, method="inverted_cdf"),
    )


def test_bootstrap_of_a_mean_of_zeros_and_ones_has_binomial_percentiles():
    """Resampling 10 values, 5 of them 1, gives a mean ~ Binomial(10, 1/2) / 10, whose 2.5% and
    97.5% quantiles are 2/10 and 8/10 (P(X <= 1) = 0.011, P(X <= 2) = 0.055)."""
    cdf = np.cumsum([math.comb(10, k) / 2**10 for k in range(11)])
    exact = (np.argmax(cdf >= 0.025) / 10, np.argmax(cdf >= 0.975) / 10)
    assert exact == (0.2, 0.8)
    assert stats.bootstrap_interval([0, 1] * 5, np.mean) == pytest.approx(exact)


def test_bootstrap_edge_cases():
    assert stats.bootstrap_interval([4.0, 4.0, 4.0], np.median) == (4.0, 4.0)
    assert all(math.isnan(v) for v in stats.bootstrap_interval([1.0], np.mean))
    assert stats.percentile_interval([0, 0, 10, 10]) == (0, 10)  # ends are values taken
    inf = stats.bootstrap_interval([1.0, np.inf, np.inf], np.median)
    assert inf[1] == np.inf and inf[0] == 1.0  # infinite values pass through, no NaN

"""The measures: each statistic that claims and replication targets state something about,
computed once, here, from the pipeline's tables, with its n and its 95% interval.

A measure reads a `Sample`: the rows of one population (`a`), and for a comparison the rows of a
second one (`b`), optionally paired on columns (`pair_on`: the settings both populations share);
where a population spans several settings, `reduce` says which setting's effect decides (the
smallest or largest, with the envelope of the intervals). It returns a `Measured`.
`MEASURES` holds them by name: a claim (`rnnbench.claims.Claim`) and a replication target
(`config/replications.yaml`) name one. What a measure shares with the figures and report tables
is public here, e.g. `divergence` (the divergence rate, read per group by `rnnbench.results`).

Intervals: Wilson for rates, Newcombe's hybrid score for differences of rates, MOVER (Zou &
Donner 2008) for differences of two decay slopes from their seed-bootstrap intervals, and
percentile bootstraps over seeds for horizons, medians and means (rnnbench.stats).
"""

from __future__ import annotations

import numpy as np

from ..registry import Registry
from ..selection import Missing
from .base import (
    Measure,
    Measured,
    Sample,
    bootstrap,
    final_accuracies,
    final_losses,
    has_status,
    scalar,
)
from .runs import (
    Divergence,
    divergence,
    divergence_difference,
    divergence_rate,
    fraction,
    growth_exponent_difference,
    horizon_difference,
    horizon_log_ratio,
    mean_sequences,
    median_loss_ratio,
    success_short_long,
)
from .slopes import (
    best_slope_difference,
    decades,
    log_rho_deviation,
    slope,
    slope_difference,
)

MEASURES: Registry[Measure] = Registry(
    "measure",
    {
        m.name: m
        for m in (
            Measure(
                "log_rho_deviation",
                "largest |decay slope - log10(rho)| over rho (decades per step)",
                "bootstrap over seeds of each setting's mean decay slope; envelope over rho",
                log_rho_deviation,
            ),
            Measure(
                "decades",
                "decades gained by ||dE_T/dh_k|| from k = T to k = 0 (slope x T)",
                "bootstrap over seeds of each setting's mean decay slope (x T); envelope",
                decades,
            ),
            Measure(
                "slope",
                "decay slope of log10 ||dE_T/dh_k|| against T - k (decades per step)",
                "bootstrap over seeds of the mean decay slope; envelope over settings",
                slope,
            ),
            Measure(
                "slope_difference",
                "difference of two decay slopes, paired by setting (decades per step)",
                "MOVER interval (Zou & Donner 2008) from the two slopes' seed-bootstrap "
                "intervals; envelope over settings",
                slope_difference,
            ),
            Measure(
                "best_slope_difference",
                "the best (largest) decay slope of one population minus the other's",
                "MOVER interval (Zou & Donner 2008) from the two slopes' seed-bootstrap intervals",
                best_slope_difference,
            ),
            Measure(
                "divergence_rate",
                "fraction of runs whose loss or gradient became NaN/inf",
                "Wilson interval over runs",
                divergence_rate,
            ),
            Measure(
                "divergence_difference",
                "difference of two divergence rates over the same trials",
                "Newcombe's hybrid score interval on the difference of two rates",
                divergence_difference,
            ),
            Measure(
                "success_short_long",
                "success rate at each task's shortest T minus at its longest T",
                "Newcombe's hybrid score interval (skipped runs count as unsolved)",
                success_short_long,
            ),
            Measure(
                "horizon_difference",
                "horizon (largest T solved by >= 50% of seeds) of one population minus the "
                "other's best, per task",
                "bootstrap over seeds of the horizon difference (paired by seed); no horizon "
                "counts as 0; envelope over tasks",
                horizon_difference,
            ),
            Measure(
                "growth_exponent_difference",
                "exponent of the growth of the sequences to solve with T (sequences ~ T^b), one "
                "population's minus the other's",
                "95% Wald interval of a Weibull accelerated-failure-time fit (lifelines), runs "
                "that never solved right-censored at their budget",
                growth_exponent_difference,
            ),
            Measure(
                "horizon_log_ratio",
                "log2 of the ratio of two horizons, per task (1: twice as long)",
                "bootstrap over seeds of the horizons' log2 ratio (paired by seed); no horizon "
                "counts as 0; a horizon at the grid's largest T is censored (open above)",
                horizon_log_ratio,
            ),
            Measure(
                "median_loss_ratio",
                "median test loss over the input-blind baseline's",
                "bootstrap over runs of the median (diverged or skipped: infinite)",
                median_loss_ratio,
            ),
            Measure(
                "solved_fraction",
                "fraction of seeds solved (the task's solved rule on the test set)",
                "Wilson interval over seeds",
                lambda s: fraction(has_status(s.a, "solved")),
                tags=("target",),
            ),
            Measure(
                "fraction_below",
                "fraction of seeds whose final test loss is below the target's threshold",
                "Wilson interval over seeds",
                lambda s: fraction(final_losses(s.a) < s.threshold),
                tags=("target",),
            ),
            Measure(
                "fraction_below_baseline",
                "fraction of seeds whose final test loss is below threshold x the task's "
                "baseline loss (beating the input-blind baseline)",
                "Wilson interval over seeds",
                lambda s: fraction(
                    final_losses(s.a) < s.threshold * s.a["baseline_loss"].to_numpy(float)
                ),
                tags=("target",),
            ),
            Measure(
                "median_final_loss",
                "median over seeds of the final test loss",
                "bootstrap over seeds",
                lambda s: scalar("median", bootstrap(final_losses(s.a), np.median), len(s.a)),
                tags=("target",),
            ),
            Measure(
                "median_final_metric",
                "median over seeds of the final test accuracy",
                "bootstrap over seeds",
                lambda s: scalar("median", bootstrap(final_accuracies(s.a), np.median), len(s.a)),
                accuracy=True,
                tags=("target",),
            ),
            Measure(
                "mean_test_error",
                "mean over seeds of the fraction of test sequences not processed correctly",
                "bootstrap over seeds",
                lambda s: scalar("mean", bootstrap(1 - final_accuracies(s.a), np.mean), len(s.a)),
                accuracy=True,
                tags=("target",),
            ),
            Measure(
                "mean_sequences_to_solve",
                "mean over seeds of the training sequences until solved on the validation set "
                "(a seed that never solved counts as its budget: then a lower bound)",
                "bootstrap over seeds (open above when a seed never solved)",
                lambda s: scalar("mean", mean_sequences(s), len(s.a)),
                tags=("target",),
            ),
        )
    },
)

# The measures a replication target may name: those of one run's seeds.
TARGET_MEASURES = {name: m for name, m in MEASURES.items() if "target" in m.tags}

__all__ = [
    "MEASURES",
    "TARGET_MEASURES",
    "Divergence",
    "Measure",
    "Measured",
    "Missing",
    "Sample",
    "divergence",
]

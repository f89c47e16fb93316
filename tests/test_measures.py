"""Measures against independent computations: the censored growth exponent of sequences to solve
against T recovers a known exponent; horizons at the grid's top are censored."""

import math

import numpy as np
import pandas as pd
import pytest

from rnnbench import aggregate
from rnnbench.measures import MEASURES, Missing, Sample


def runs(exponent: float, cell: str, budget: int, seeds: int = 12, seed: int = 0):
    """Runs whose sequences to solve grow as 100 T^exponent (lognormal noise), censored (never
    solved within it) above the budget (sequences: steps x batch 32)."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in (10, 20, 40, 80, 160):
        for s in range(seeds):
            seqs = 100 * t**exponent * math.exp(rng.normal(0, 0.2))
            solved = seqs <= budget
            rows.append(dict(cell=cell, seq_len=t, seed=s, steps=budget // 32, batch_size=32,
                             sequences_to_solve=round(seqs) if solved else None))  # fmt: skip
    df = pd.DataFrame(rows)
    df["sequences_to_solve"] = df["sequences_to_solve"].astype("Int64")
    return df


def test_the_growth_exponent_difference_recovers_known_exponents():
    fast, slow = runs(0.7, "lstm", 320_000), runs(1.5, "rnn", 320_000, seed=1)
    m = MEASURES["growth_exponent_difference"].compute(Sample(fast, slow))
    assert m.low < -0.8 < m.high and m.high < 0  # the true difference: 0.7 - 1.5
    assert m.n == len(fast) + len(slow) and "censored" in m.text
    # A budget that censors the slow population from T = 40 on keeps the estimate honest.
    m = MEASURES["growth_exponent_difference"].compute(Sample(fast, runs(1.5, "rnn", 24_000)))
    assert m.low < -0.8 < m.high
    with pytest.raises(Missing, match="solved no T"):
        MEASURES["growth_exponent_difference"].compute(Sample(fast, runs(1.5, "rnn", 32)))


def test_unsolved_runs_are_censored_at_their_budget():
    df = runs(1.0, "rnn", 4_800, seeds=2)
    seqs, event = aggregate.censored_sequences(df)
    assert (seqs[event == 0] == 4_800).all() and event.sum() == df[
        "sequences_to_solve"
    ].notna().sum()

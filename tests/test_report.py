"""Claims scorecard verdicts on synthetic tables with known answers, and report rendering."""

import math

import numpy as np
import pandas as pd

from rnnbench import claims, report


def decay_row(**kw):
    base = dict(
        experiment="e1_init",
        step=0,
        cell="rnn",
        nonlinearity="linear",
        init="orthogonal",
        rho=1.0,
        forget_bias=1.0,
        variant="v",
        max_distance=200,
        efold_steps=10.0,
    )
    return {**base, **kw}


def tables(linear_exact=True, sigmoid_faster=True, diverge_none=1.0, diverge_norm=0.0):
    rows = []
    for rho in (0.5, 0.9, 1.0, 1.5):
        slope = math.log10(rho) + (0 if linear_exact else 0.01)
        rows.append(decay_row(rho=rho, slope_log10_per_step=slope))
        tanh = math.log10(rho) - 0.01
        rows.append(decay_row(nonlinearity="tanh", rho=rho, slope_log10_per_step=tanh))
        rows.append(
            decay_row(
                nonlinearity="sigmoid",
                rho=rho,
                slope_log10_per_step=tanh + (math.log10(0.25) if sigmoid_faster else 0.005),
            )
        )
        rows.append(decay_row(nonlinearity="relu", rho=rho, slope_log10_per_step=tanh - 0.01))
    runs = []
    for clip, rate in (("none", diverge_none), ("norm", diverge_norm)):
        for seed in range(4):
            diverged = seed < rate * 4
            runs.append(
                dict(
                    experiment="e2_clipping",
                    task="adding",
                    cell="rnn",
                    rho=1.2,
                    seq_len=50,
                    clip=clip,
                    clip_threshold=math.inf if clip == "none" else 1.0,
                    seed=seed,
                    status="diverged" if diverged else "unsolved",
                    diverged_step=3 if diverged else None,
                    final_loss=0.2,
                    baseline_loss=1 / 6,
                    final_metric=0.2,
                )
            )
    empty = pd.DataFrame(columns=["experiment"])
    return {
        "decay_rates": pd.DataFrame(rows),
        "runs": pd.DataFrame(runs),
        "horizons": empty,
        "gradient_profiles": empty,
        "curves": empty,
    }


def verdicts(t):
    return claims.scorecard(t).set_index("id")["verdict"]


def test_verdicts_follow_the_measurements():
    good = verdicts(tables())
    assert good["linear_rho_power"] == good["exploding"] == good["vanishing"] == "reproduced"
    assert good["sigmoid_faster"] == good["relu_still_vanishes"] == "reproduced"
    assert good["unclipped_diverge"] == good["clipping_prevents"] == "reproduced"
    assert good["adding_baseline"] == "reproduced"
    bad = verdicts(
        tables(linear_exact=False, sigmoid_faster=False, diverge_none=0.5, diverge_norm=0.75)
    )
    assert bad["linear_rho_power"] == bad["sigmoid_faster"] == "not reproduced"
    assert bad["clipping_prevents"] == "not reproduced"
    # Experiments absent from the grid are inconclusive, with the reason as the measured value.
    assert good["lstm_longest_horizon"] == good["copy_lstm_beats_baseline"] == "inconclusive"
    card = claims.scorecard(tables()).set_index("id")
    assert "e3_long_range" in card.loc["copy_lstm_beats_baseline", "measured"]
    assert card["claim"].str.len().gt(10).all() and card["source"].str.len().gt(3).all()


def test_fmt_never_prints_nan_or_none():
    for v in (math.nan, None, pd.NA, np.float64("nan")):
        assert report.fmt(v) == "–"
    assert report.fmt(math.inf) == "∞" and report.fmt(3.0) == "3" and report.fmt(0.1234) == "0.123"
    assert report.fmt(np.int64(4)) == "4" and report.fmt(True) == "yes"


def test_html_escapes_config_strings():
    sec = report.Section(
        "<script>alert(1)</script>", paragraphs=["a < b & c"], table=pd.DataFrame({"x": ["<b>"]})
    )
    page = report.render_html("abs", [sec], {}, figures_dir=None)
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;b&gt;" in page

"""aggregate.py against closed forms: fitted slopes, horizons, grid checks and task baselines."""

import math

import numpy as np
import pandas as pd
import pytest

from rnnbench import aggregate
from rnnbench.grid import run_cells
from rnnbench.spec import CellSpec, ProbeSpec, parse, to_dict
from rnnbench.tables import read_table


def synthetic_profiles(slopes: dict[str, float], seeds=(0, 1), seq_len=40) -> pd.DataFrame:
    """Exact straight-line profiles: log10 norm = slope x distance (+ a per-seed offset)."""
    rows = []
    for cell, slope in slopes.items():
        for seed in seeds:
            for d in range(seq_len + 1):
                rows.append(
                    dict(
                        experiment="e1_init",
                        cell_id=cell,
                        variant=cell,
                        task="adding",
                        cell="rnn",
                        nonlinearity="linear",
                        init="orthogonal",
                        rho=10**slope,
                        forget_bias=1.0,
                        hidden_size=8,
                        seq_len=seq_len,
                        seed=seed,
                        step=0,
                        distance=d,
                        log10_grad_norm=slope * d + 0.1 * seed,
                        log10_grad_norm_median=slope * d,
                        log10_bound=slope * d,
                    )
                )
    return aggregate.gradient_profiles(pd.DataFrame(rows))


def synthetic_runs(success: dict[tuple[str, int], list[str]]) -> pd.DataFrame:
    """One row per (variant, T) x status listed; the rest of the columns filled plausibly."""
    rows = []
    for (variant, seq_len), statuses in success.items():
        for seed, status in enumerate(statuses):
            rows.append(
                dict(
                    experiment="e3_long_range",
                    cell_id=f"adding_T{seq_len}_H8_{variant}",
                    variant=variant,
                    task="adding",
                    cell="rnn",
                    nonlinearity="tanh",
                    init="orthogonal",
                    rho=1.0,
                    forget_bias=1.0,
                    hidden_size=8,
                    seq_len=seq_len,
                    optimizer="adam",
                    lr=0.01,
                    batch_size=8,
                    clip="norm",
                    clip_threshold=1.0,
                    seed=seed,
                    status=status,
                    diverged_step=3 if status == "diverged" else None,
                    steps=10,
                    final_loss=0.01,
                    baseline_loss=1 / 6,
                    final_metric=0.01,
                    baseline_metric=1 / 6,
                    max_grad_norm=1.0,
                    wall_seconds=0.1,
                )
            )
    df = pd.DataFrame(rows)
    df["diverged_step"] = df["diverged_step"].astype("Int64")
    return df


def test_fit_slope_recovers_a_known_slope_and_ignores_non_finite_points():
    d = np.arange(50)
    y = -0.3 * d + 2.0
    y[[5, 17]] = -np.inf  # an exactly-zero gradient: log10 0
    assert aggregate.fit_slope(d, y) == pytest.approx(-0.3)
    assert math.isnan(aggregate.fit_slope(d[:1], y[:1]))


def test_decay_rates_slope_efold_length_and_regime():
    rates = aggregate.decay_rates(synthetic_profiles({"vanish": -0.1, "explode": 0.05, "flat": 0}))
    by = rates.set_index("cell_id")
    assert len(rates) == 3 and (rates["n_seeds"] == 2).all()
    assert by.loc["vanish", "slope_log10_per_step"] == pytest.approx(-0.1)
    assert by.loc["explode", "slope_log10_per_step"] == pytest.approx(0.05)
    assert by.loc["vanish", "bound_slope_log10_per_step"] == pytest.approx(-0.1)
    assert by.loc["vanish", "efold_steps"] == pytest.approx(1 / (0.1 * math.log(10)))
    assert by.loc["flat", "efold_steps"] > 1e12  # slope 0: no e-fold change at any distance
    assert by["regime"].to_dict() == {"vanish": "vanishing", "explode": "exploding", "flat": "flat"}


def test_gradient_profiles_rejects_a_repeated_row():
    profiles = synthetic_profiles({"a": -0.1})
    with pytest.raises(aggregate.GridError, match="repeat"):
        aggregate.gradient_profiles(pd.concat([profiles, profiles.iloc[:1]]))


def test_horizon_is_the_largest_t_with_success_rate_at_least_half():
    runs = synthetic_runs(
        {
            ("lstm", 10): ["solved", "solved"],
            ("lstm", 20): ["solved", "unsolved"],  # exactly 0.5 counts
            ("lstm", 40): ["unsolved", "unsolved"],
            ("lstm", 80): ["solved", "solved"],  # not contiguous: still the largest T reached
            ("rnn", 10): ["solved", "diverged"],
            ("rnn", 20): ["unsolved", "diverged"],
            ("never", 10): ["unsolved", "unsolved"],
        }
    )
    h = aggregate.horizons(runs)
    assert len(h) == 7  # one row per variant x T
    by = h.set_index(["variant", "seq_len"])
    assert by.loc[("lstm", 20), "success_rate"] == 0.5
    assert by.loc[("rnn", 20), "divergence_rate"] == 0.5
    assert (h.loc[h["variant"] == "lstm", "horizon"] == 80).all()
    assert (h.loc[h["variant"] == "rnn", "horizon"] == 10).all()
    assert h.loc[h["variant"] == "never", "horizon"].isna().all()


def test_runs_checks_every_grid_point_exactly_once():
    runs = synthetic_runs({("a", 10): ["solved", "diverged"], ("b", 10): ["unsolved"]})
    expected = ["e3_long_range/adding_T10_H8_a", "e3_long_range/adding_T10_H8_b"]
    table = aggregate.runs(runs, expected)
    assert len(table) == 3
    assert set(table["status"]) == {"solved", "unsolved", "diverged"}  # diverged is a row
    with pytest.raises(aggregate.GridError, match="adding_T10_H8_c has no rows"):
        aggregate.runs(runs, [*expected, "e3_long_range/adding_T10_H8_c"])
    with pytest.raises(aggregate.GridError, match="not in the config"):
        aggregate.runs(runs, expected[:1])
    with pytest.raises(aggregate.GridError, match="repeat"):
        aggregate.runs(pd.concat([runs, runs.iloc[:1]]), expected)
    with pytest.raises(aggregate.GridError, match="invalid status"):
        aggregate.runs(runs.assign(status="exploded"), expected)
    with pytest.raises(aggregate.GridError, match="diverged_step"):
        aggregate.runs(runs.assign(diverged_step=pd.NA), expected)


def _train_tiny(tmp_path, task: str, seq_len: int) -> pd.DataFrame:
    spec = parse(
        CellSpec,
        {
            "task": {"name": task, "seq_len": seq_len, "eval_size": 8},
            "model": {"hidden_size": 4},
            "train": {"steps": 2, "batch_size": 4, "seeds": [0, 1]},
        },
    )
    folder = tmp_path / f"{task}_{seq_len}"
    with open(tmp_path / "log", "w") as log:
        cell = dict(cell_id=f"{task}_T{seq_len}", variant="rnn", spec=to_dict(spec))
        run_cells("e3_long_range", cell["cell_id"], [cell], folder, log)
    cells = aggregate.read_cells([folder / "runs.parquet"])
    return aggregate.runs(cells, [f"e3_long_range/{task}_T{seq_len}"])


@pytest.mark.parametrize(
    ("task", "seq_len", "baseline"),
    [
        ("adding", 7, 1 / 6),  # predict 1 = E[u1 + u2]: MSE Var(u1 + u2) = 1/6
        ("copy", 5, 10 * math.log(8) / (5 + 20)),  # uniform over 8 symbols on 10 of T+20 steps
        ("copy", 30, 10 * math.log(8) / (30 + 20)),
    ],
)
def test_runs_baselines_equal_their_closed_forms(tmp_path, task, seq_len, baseline):
    runs = _train_tiny(tmp_path, task, seq_len)
    assert len(runs) == 2 and runs["status"].isin(aggregate.STATUSES).all()
    assert runs["baseline_loss"].to_numpy() == pytest.approx(baseline, rel=1e-12)
    assert list(runs.columns) == aggregate.RUN_COLUMNS


@pytest.mark.parametrize("rho", [0.9, 1.3])
def test_linear_rnn_gradient_decays_exactly_as_rho_to_the_distance(tmp_path, rho):
    """Probe -> table -> fit: a linear orthogonal RNN scales by rho per step (float32 weights)."""
    spec = parse(
        ProbeSpec,
        {
            "task": {"name": "adding", "seq_len": 60},
            "model": {"nonlinearity": "linear", "init": "orthogonal", "rho": rho, "hidden_size": 8},
            "seeds": [0, 1, 2],
            "batch_size": 4,
        },
    )
    with open(tmp_path / "log", "w") as log:
        cell = dict(cell_id="linear", variant="linear", spec=to_dict(spec))
        run_cells("e1_init", "linear", [cell], tmp_path, log)
    profiles = aggregate.gradient_profiles(read_table(tmp_path / "profiles.parquet"))
    assert len(profiles) == 3 * 61  # every seed x distance 0..T exactly once
    rates = aggregate.decay_rates(profiles)
    assert rates["slope_log10_per_step"].iloc[0] == pytest.approx(math.log10(rho), abs=1e-6)
    assert rates["bound_slope_log10_per_step"].iloc[0] == pytest.approx(math.log10(rho), abs=1e-6)

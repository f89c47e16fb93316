"""aggregate.py against closed forms and hand-computed bootstraps: slopes, horizons and their
intervals, grid and lr-selection checks, task baselines."""

import math

import numpy as np
import pandas as pd
import pytest

from rnnbench import aggregate, resolve, stats
from rnnbench.execute import run_job
from rnnbench.spec import ClipSpec, ProbeSpec, TrialSpec, to_dict
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
                        cell_label="RNN",
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


def synthetic_runs(
    success: dict[tuple[str, int], list[str]], lr: float = 0.01, selected: bool = True
) -> pd.DataFrame:
    """One row per (variant, T) x status listed (seed = position); other columns plausible."""
    rows = []
    for (variant, seq_len), statuses in success.items():
        for seed, status in enumerate(statuses):
            solved_step = 40 if status == "solved" else None
            rows.append(
                dict(
                    experiment="e3_long_range",
                    cell_id=f"adding_T{seq_len}_H8_{variant}",
                    variant=variant,
                    task="adding",
                    cell="rnn",
                    cell_label="RNN",
                    nonlinearity="tanh",
                    init="orthogonal",
                    rho=1.0,
                    forget_bias=1.0,
                    hidden_size=8,
                    seq_len=seq_len,
                    test_size=16,
                    val_size=16,
                    optimizer="adam",
                    momentum=0.9,
                    batch_size=8,
                    steps=10,
                    stop_when_solved=True,
                    check_every=5,
                    dtype="float32",
                    lr=lr,
                    clip="norm",
                    clip_threshold=1.0,
                    clip_setting="norm 1",
                    seed=seed,
                    selected=selected,
                    status=status,
                    diverged_step=3 if status == "diverged" else None,
                    skipped_after=seq_len // 2 if status == "skipped" else None,
                    solved_step=solved_step,
                    sequences_to_solve=None if solved_step is None else solved_step * 8 + seed,
                    steps_trained=0 if status == "skipped" else 10,
                    val_loss=math.nan if status == "skipped" else 0.01,
                    val_metric=math.nan if status == "skipped" else 0.01,
                    final_loss=math.nan if status == "skipped" else 0.01,
                    baseline_loss=1 / 6,
                    final_metric=math.nan if status == "skipped" else 0.01,
                    baseline_metric=1 / 6,
                    max_grad_norm=1.0,
                    wall_seconds=0.1,
                    baseline_solved=False,
                )
            )
    df = pd.DataFrame(rows)
    for column in aggregate.INT_COLUMNS:
        df[column] = df[column].astype("Int64")
    return df


def runs_table(*frames: pd.DataFrame) -> pd.DataFrame:
    """The runs table of these per-cell rows, built and checked as the pipeline does."""
    df = pd.concat(frames, ignore_index=True)
    expected = sorted(set(df["experiment"] + "/" + df["cell_id"]))
    return aggregate.runs(df, expected)


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
    # Every seed has the same slope: the bootstrap interval has no width.
    assert by.loc["vanish", "slope_low"] == pytest.approx(-0.1)
    assert by.loc["vanish", "slope_high"] == pytest.approx(-0.1)


def test_decay_slope_interval_is_the_seed_bootstrap_of_the_mean_slope():
    slopes = [-0.10, -0.12, -0.07, -0.11, -0.09]
    profiles = pd.concat(
        [synthetic_profiles({"a": s}, seeds=(seed,)) for seed, s in enumerate(slopes)]
    ).assign(rho=0.8)  # one setting, five seeds with different slopes
    row = aggregate.decay_rates(profiles).iloc[0]
    # Reference: resample the five slopes with the same fixed-seed indices, mean, percentiles.
    means = np.asarray(slopes)[stats.resample_indices(5)].mean(1)
    assert row["n_seeds"] == 5
    assert row["slope_log10_per_step"] == pytest.approx(np.mean(slopes))
    assert row["slope_low"] == pytest.approx(np.quantile(means, 0.025, method="inverted_cdf"))
    assert row["slope_high"] == pytest.approx(np.quantile(means, 0.975, method="inverted_cdf"))
    assert min(slopes) < row["slope_low"] < np.mean(slopes) < row["slope_high"] < max(slopes)
    one_seed = aggregate.decay_rates(synthetic_profiles({"a": -0.1}, seeds=(0,))).iloc[0]
    assert math.isnan(one_seed["slope_low"]) and math.isnan(one_seed["slope_high"])


def test_gradient_profiles_rejects_a_repeated_row():
    profiles = synthetic_profiles({"a": -0.1})
    with pytest.raises(aggregate.GridError, match="repeat"):
        aggregate.gradient_profiles(pd.concat([profiles, profiles.iloc[:1]]))


def test_horizon_is_the_largest_t_with_success_rate_at_least_half():
    runs = runs_table(
        synthetic_runs(
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
    )
    h = aggregate.horizons(runs)
    assert len(h) == 7  # one row per variant x T
    by = h.set_index(["variant", "seq_len"])
    assert by.loc[("lstm", 20), "success_rate"] == 0.5
    assert by.loc[("rnn", 20), "divergence_rate"] == 0.5
    assert (h.loc[h["variant"] == "lstm", "horizon"] == 80).all()
    assert (h.loc[h["variant"] == "rnn", "horizon"] == 10).all()
    assert h.loc[h["variant"] == "never", "horizon"].isna().all()
    # Never solved: every resample has no horizon, counted 0 in the bootstrap.
    never = by.loc[("never", 10)]
    assert (never["horizon_low"], never["horizon_high"]) == (0, 0)
    low, high = stats.wilson_interval(1, 2)
    assert (by.loc[("lstm", 20), "success_low"], by.loc[("lstm", 20), "success_high"]) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    assert by.loc[("lstm", 10), "lr"] == 0.01 and (h["n_seeds"] == 2).all()


def test_horizon_interval_of_two_seeds_by_hand():
    """Seed 0 solves T = 10 and 20, seed 1 only T = 10. Resampling two seeds gives {0, 0} or
    {0, 1} (horizon 20: rate >= 0.5) with probability 3/4 and {1, 1} (horizon 10) with 1/4, so
    the 95% interval is [10, 20]; the group that solves everything has [20, 20]."""
    runs = runs_table(
        synthetic_runs(
            {
                ("half", 10): ["solved", "solved"],
                ("half", 20): ["solved", "unsolved"],
                ("all", 10): ["solved", "solved"],
                ("all", 20): ["solved", "solved"],
            }
        )
    )
    by = aggregate.horizons(runs).groupby("variant").first()
    assert by.loc["half", ["horizon", "horizon_low", "horizon_high"]].tolist() == [20, 10, 20]
    assert by.loc["all", ["horizon", "horizon_low", "horizon_high"]].tolist() == [20, 20, 20]


def reference_horizon_interval(statuses: dict[int, list[str]]) -> tuple[float, float]:
    """Plain-Python seed bootstrap of the horizon: T -> per-seed statuses, same indices."""
    n = len(next(iter(statuses.values())))
    horizons = []
    for row in stats.resample_indices(n):
        reached = [
            t for t, s in statuses.items() if np.mean([s[i] == "solved" for i in row]) >= 0.5
        ]
        horizons.append(max(reached, default=0))
    return tuple(np.quantile(horizons, [0.025, 0.975], method="inverted_cdf"))


def test_horizon_interval_matches_a_plain_bootstrap():
    statuses = {
        10: ["solved"] * 5,
        20: ["solved", "solved", "unsolved", "solved", "unsolved"],
        40: ["solved", "unsolved", "unsolved", "diverged", "unsolved"],
        80: ["skipped"] * 5,
    }
    runs = runs_table(synthetic_runs({("v", t): s for t, s in statuses.items()}))
    row = aggregate.horizons(runs).iloc[0]
    assert row["horizon"] == 20
    assert (row["horizon_low"], row["horizon_high"]) == reference_horizon_interval(statuses)
    assert row["horizon_low"] < row["horizon_high"]  # 5 seeds: the interval has width


def test_skipped_runs_count_as_unsolved_and_unselected_lrs_are_ignored():
    chosen = synthetic_runs(
        {
            ("v", 10): ["solved", "solved", "unsolved"],
            ("v", 20): ["unsolved", "unsolved", "unsolved"],
            ("v", 40): ["skipped", "skipped", "skipped"],  # every seed failed at T = 20
        }
    )
    other_lr = synthetic_runs(
        {(v, t): ["solved"] * 3 for v, t in [("v", 10), ("v", 20), ("v", 40)]},
        lr=0.1,
        selected=False,
    )
    h = aggregate.horizons(runs_table(chosen, other_lr)).set_index("seq_len")
    assert (h["n_runs"] == 3).all() and (h["lr"] == 0.01).all()
    assert h.loc[40, ["n_skipped", "n_solved", "success_rate"]].tolist() == [3, 0, 0.0]
    assert h.loc[40, "success_high"] == pytest.approx(stats.wilson_interval(0, 3)[1])
    assert (h["horizon"] == 10).all()


def test_sequences_to_solve_median_and_interval_over_the_seeds_that_solved():
    runs = runs_table(synthetic_runs({("v", 10): ["solved", "solved", "solved", "unsolved"]}))
    row = aggregate.horizons(runs).iloc[0]
    seqs = [320, 321, 322]  # solved_step 40 x batch 8 + seed
    assert row["n_sequences_to_solve"] == 3
    assert row["median_sequences_to_solve"] == 321
    low, high = stats.bootstrap_interval(seqs, np.median)
    assert (row["sequences_to_solve_low"], row["sequences_to_solve_high"]) == (low, high)
    assert 320 <= low <= 321 <= high <= 322


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
    with pytest.raises(aggregate.GridError, match="skipped_after"):
        aggregate.runs(runs.assign(skipped_after=pd.array([10, None, None], "Int64")), expected)
    with pytest.raises(aggregate.GridError, match="lack column 'selected'"):
        aggregate.runs(runs.drop(columns="selected"), expected)


def test_runs_need_exactly_one_selected_lr_per_setting_and_keep_every_column():
    a = synthetic_runs({("a", 10): ["solved", "unsolved"]})
    sweep = pd.concat([a, a.assign(lr=0.1, selected=False)], ignore_index=True)
    table = runs_table(sweep)
    assert len(table) == 4 and table["selected"].sum() == 2
    assert list(table.columns[: len(aggregate.RUN_COLUMNS)]) == aggregate.RUN_COLUMNS
    assert {"momentum", "dtype", "test_size", "val_size", "stop_when_solved"} <= set(table)
    assert set(table.columns) == set(sweep.columns)  # no column dropped
    with pytest.raises(aggregate.GridError, match="exactly one selected lr"):
        runs_table(sweep.assign(selected=True))
    with pytest.raises(aggregate.GridError, match="exactly one selected lr"):
        runs_table(sweep.assign(selected=False))


def test_selected_only_keeps_the_rows_at_the_selected_lr():
    a = synthetic_runs({("a", 10): ["solved"]})
    runs = runs_table(a, a.assign(lr=0.1, selected=False))
    curves = runs[[*aggregate.RUN_KEY]].assign(step=5)
    kept = aggregate.selected_only(curves, runs)
    assert kept["lr"].tolist() == [0.01]
    # an experiment the run left out: its table is empty, untyped (object columns)
    empty = pd.DataFrame(columns=curves.columns, dtype=object)
    assert aggregate.selected_only(empty, runs.iloc[:0]).empty


def test_decay_rates_and_horizons_keep_every_spec_field_and_the_clip_setting():
    runs = runs_table(synthetic_runs({("v", 10): ["solved", "unsolved"]}))
    spec = aggregate.spec_fields(runs)
    assert {"momentum", "dtype", "test_size", "stop_when_solved", "forget_bias"} <= set(spec)
    h = aggregate.horizons(runs)
    assert set(spec) <= set(h) and h["clip_setting"].tolist() == ["norm 1"]
    assert h[["momentum", "dtype", "forget_bias"]].iloc[0].tolist() == [0.9, "float32", 1.0]
    profiles = synthetic_profiles({"a": -0.1}).assign(dtype="float64", solved_accuracy=0.9)
    rates = aggregate.decay_rates(profiles)
    assert rates[["dtype", "solved_accuracy"]].iloc[0].tolist() == ["float64", 0.9]
    assert "clip_setting" in rates and len(rates) == 1  # spec fields never split a setting


def _train_tiny(tmp_path, task: str, seq_len: int) -> pd.DataFrame:
    spec = resolve.spec(
        TrialSpec,
        {
            "task": {"name": task, "seq_len": seq_len},
            "model": {"hidden_size": 4},
            "train": {"steps": 2, "batch_size": 4, "seeds": [0, 1]},
        },
    )
    folder = tmp_path / f"{task}_{seq_len}"
    with open(tmp_path / "log", "w") as log:
        cell = dict(cell_id=f"{task}_T{seq_len}", variant="rnn", spec=to_dict(spec))
        run_job("e3_long_range", cell["cell_id"], [cell], folder, log)
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
    assert list(runs.columns[: len(aggregate.RUN_COLUMNS)]) == aggregate.RUN_COLUMNS
    kept = {"momentum", "dtype", "device", "solved_loss_fraction", "solved_accuracy"}
    assert kept <= set(runs) and kept <= set(aggregate.horizons(runs))  # every spec field
    assert (runs["clip_setting"] == ClipSpec().label).all()  # train.py writes the label


@pytest.mark.parametrize("rho", [0.9, 1.3])
def test_linear_rnn_gradient_decays_exactly_as_rho_to_the_distance(tmp_path, rho):
    """Probe -> table -> fit: a linear orthogonal RNN scales by rho per step (float32 weights)."""
    spec = resolve.spec(
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
        run_job("e1_init", "linear", [cell], tmp_path, log)
    profiles = aggregate.gradient_profiles(read_table(tmp_path / "profiles.parquet"))
    assert len(profiles) == 3 * 61  # every seed x distance 0..T exactly once
    rates = aggregate.decay_rates(profiles)
    assert rates["slope_log10_per_step"].iloc[0] == pytest.approx(math.log10(rho), abs=1e-6)
    assert rates["bound_slope_log10_per_step"].iloc[0] == pytest.approx(math.log10(rho), abs=1e-6)

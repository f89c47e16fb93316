"""Ensemble training: each model equals itself trained alone; divergence; determinism."""

import numpy as np
import pandas as pd
import pytest

from rnnbench.spec import CellSpec, ProbeSpec, parse
from rnnbench.train import probe_cell, train_cell

TIMING = ["wall_seconds"]


def cell(task="adding", seq_len=12, cell="rnn", f="tanh", seeds=(0, 1), clipping=None, **train):
    train = dict(
        dict(optimizer="adam", lr=0.01, steps=12, log_every=4, batch_size=8, seeds=list(seeds)),
        **train,
    )
    train["clipping"] = clipping or [{"mode": "none"}, {"mode": "norm", "threshold": 0.5}]
    return parse(
        CellSpec,
        dict(
            task=dict(name=task, seq_len=seq_len, eval_size=40),
            model=dict(cell=cell, nonlinearity=f, init="orthogonal", rho=1.1, hidden_size=6),
            train=train,
            runtime=dict(dtype="float64"),
        ),
    )


@pytest.mark.parametrize(
    "cell_name,task", [("rnn", "adding"), ("lstm", "copy"), ("gru", "temporal_order")]
)
def test_ensemble_equals_each_model_alone(cell_name, task):
    clipping = [
        {"mode": "none"},
        {"mode": "norm", "threshold": 0.5},
        {"mode": "value", "threshold": 0.01},
    ]
    together = train_cell(cell(task, cell=cell_name, seeds=(3, 4), clipping=clipping))
    for e, row in together.runs.iterrows():
        c = [m for m in clipping if m["mode"] == row["clip"]]
        alone = train_cell(cell(task, cell=cell_name, seeds=(int(row["seed"]),), clipping=c))
        a, b = alone.curves.drop(columns="model"), together.curves[together.curves.model == e]
        cols = ["step", "train_loss", "eval_loss", "eval_metric", "grad_norm", "sigma_max"]
        np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-10)
        assert a.clipped.tolist() == b.clipped.tolist()
        assert alone.runs.final_loss[0] == pytest.approx(row["final_loss"], rel=1e-10)
        pa, pb = alone.profiles, together.profiles[together.profiles.model == e]
        np.testing.assert_allclose(pa.log10_grad_norm, pb.log10_grad_norm, rtol=1e-10)
    assert set(together.runs["clip"]) == {"none", "norm", "value"}
    assert together.curves.clipped.any()


def test_unclipped_rho3_diverges_and_clipped_sibling_stays_finite():
    spec = parse(
        CellSpec,
        dict(
            task=dict(name="adding", seq_len=20, eval_size=64),
            model=dict(nonlinearity="linear", init="orthogonal", rho=3.0, hidden_size=16),
            train=dict(
                optimizer="sgd",
                lr=0.01,
                momentum=0.0,
                steps=20,
                log_every=5,
                batch_size=16,
                seeds=[0, 1],
                clipping=[{"mode": "none"}, {"mode": "norm", "threshold": 1.0}],
            ),
        ),
    )
    runs = train_cell(spec).runs.set_index(["clip", "seed"])
    for seed in (0, 1):
        assert runs.loc[("none", seed), "status"] == "diverged"
        assert runs.loc[("none", seed), "diverged_step"] >= 0
        assert runs.loc[("norm", seed), "status"] != "diverged"
        assert np.isfinite(runs.loc[("norm", seed), "final_loss"])
        assert pd.isna(runs.loc[("norm", seed), "diverged_step"])


def test_same_spec_twice_gives_identical_tables(tmp_path):
    spec = cell(steps=8)
    a, b = train_cell(spec), train_cell(spec)
    pd.testing.assert_frame_equal(a.runs.drop(columns=TIMING), b.runs.drop(columns=TIMING))
    pd.testing.assert_frame_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.profiles, b.profiles)


def test_tables_are_tidy_and_complete():
    res = train_cell(cell(seeds=(0, 1, 2), steps=10, log_every=5))
    assert len(res.runs) == 6 and res.runs.status.isin(["solved", "unsolved", "diverged"]).all()
    assert (res.curves.groupby("model").step.apply(list) == pd.Series([[0, 5, 10]] * 6)).all()
    for col in (
        "task",
        "seq_len",
        "cell",
        "nonlinearity",
        "init",
        "rho",
        "hidden_size",
        "lr",
        "seed",
        "clip",
        "clip_threshold",
    ):
        assert col in res.runs and col in res.curves and col in res.profiles
    steps = res.profiles.groupby("model").step.unique()
    assert all(sorted(s) == [0, 10] for s in steps)
    assert res.profiles.groupby(["model", "step"]).distance.nunique().eq(13).all()
    assert res.meta["versions"]["torch"] and res.meta["seeds"] == [0, 1, 2]


def test_probe_cell_profiles_every_seed():
    spec = parse(
        ProbeSpec,
        dict(
            task=dict(name="adding", seq_len=30),
            model=dict(nonlinearity="linear", init="orthogonal", rho=0.9),
            seeds=[0, 1, 2],
            batch_size=8,
        ),
    )
    res = probe_cell(spec)
    assert sorted(res.profiles.seed.unique()) == [0, 1, 2]
    one = res.profiles.query("seed == 0").sort_values("distance")
    slope = np.polyfit(one.distance, one.log10_grad_norm, 1)[0]
    assert slope == pytest.approx(np.log10(0.9), abs=1e-9)

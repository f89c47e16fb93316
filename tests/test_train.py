"""Ensemble training: each model equals itself trained alone; divergence; determinism."""

import numpy as np
import pandas as pd
import pytest
import torch

from rnnbench import resolve
from rnnbench.spec import ProbeSpec, TrialSpec
from rnnbench.train import probe_trial, train_trial

TIMING = ["wall_seconds"]


def cell(task="adding", seq_len=12, cell="rnn", f="tanh", seeds=(0, 1), clipping=None, **train):
    train = dict(
        dict(optimizer="adam", lr=0.01, steps=12, log_every=4, batch_size=8, seeds=list(seeds)),
        **train,
    )
    train["clipping"] = clipping or [{"mode": "none"}, {"mode": "norm", "threshold": 0.5}]
    return resolve.spec(
        TrialSpec,
        dict(
            task=dict(name=task, seq_len=seq_len, test_size=40),
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
    together = train_trial(cell(task, cell=cell_name, seeds=(3, 4), clipping=clipping))
    for e, row in together.runs.iterrows():
        c = [m for m in clipping if m["mode"] == row["clip"]]
        alone = train_trial(cell(task, cell=cell_name, seeds=(int(row["seed"]),), clipping=c))
        a, b = alone.curves.drop(columns="model"), together.curves[together.curves.model == e]
        cols = ["step", "train_loss", "val_loss", "val_metric", "grad_norm", "sigma_max"]
        np.testing.assert_allclose(a[cols].to_numpy(), b[cols].to_numpy(), rtol=1e-10)
        assert a.clipped.tolist() == b.clipped.tolist()
        assert alone.runs.final_loss[0] == pytest.approx(row["final_loss"], rel=1e-10)
        pa, pb = alone.profiles, together.profiles[together.profiles.model == e]
        np.testing.assert_allclose(pa.log10_grad_norm, pb.log10_grad_norm, rtol=1e-10)
    assert set(together.runs["clip"]) == {"none", "norm", "value"}
    assert together.curves.clipped.any()


def test_unclipped_rho3_diverges_and_clipped_sibling_stays_finite():
    spec = resolve.spec(
        TrialSpec,
        dict(
            task=dict(name="adding", seq_len=20, test_size=64),
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
    runs = train_trial(spec).runs.set_index(["clip", "seed"])
    for seed in (0, 1):
        assert runs.loc[("none", seed), "status"] == "diverged"
        assert runs.loc[("none", seed), "diverged_step"] >= 0
        assert runs.loc[("norm", seed), "status"] != "diverged"
        assert np.isfinite(runs.loc[("norm", seed), "final_loss"])
        assert pd.isna(runs.loc[("norm", seed), "diverged_step"])


def test_same_spec_twice_gives_identical_tables(tmp_path):
    spec = cell(steps=8)
    a, b = train_trial(spec), train_trial(spec)
    pd.testing.assert_frame_equal(a.runs.drop(columns=TIMING), b.runs.drop(columns=TIMING))
    pd.testing.assert_frame_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.profiles, b.profiles)


def test_tables_are_tidy_and_complete():
    res = train_trial(cell(seeds=(0, 1, 2), steps=10, log_every=5))
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
    spec = resolve.spec(
        ProbeSpec,
        dict(
            task=dict(name="adding", seq_len=30),
            model=dict(nonlinearity="linear", init="orthogonal", rho=0.9),
            seeds=[0, 1, 2],
            batch_size=8,
        ),
    )
    res = probe_trial(spec)
    assert sorted(res.profiles.seed.unique()) == [0, 1, 2]
    one = res.profiles.query("seed == 0").sort_values("distance")
    slope = np.polyfit(one.distance, one.log10_grad_norm, 1)[0]
    assert slope == pytest.approx(np.log10(0.9), abs=1e-9)


def stopping_cell(**overrides):
    """Adding at a lenient criterion (loss <= 0.97 x baseline): models solve at different steps."""
    train = dict(
        dict(optimizer="adam", lr=[0.003, 0.03], steps=60, log_every=20, check_every=5),
        batch_size=16,
        seeds=[0, 1, 2],
        stop_when_solved=True,
    )
    train.update(overrides)
    return resolve.spec(
        TrialSpec,
        dict(
            task=dict(
                name="adding", seq_len=6, val_size=64, test_size=64, solved_loss_fraction=0.97
            ),
            model=dict(cell="rnn", hidden_size=8, init="orthogonal"),
            train=train,
            runtime=dict(dtype="float64"),
        ),
    )


NUMBERS = ["train_loss", "val_loss", "val_metric", "grad_norm", "spectral_radius", "sigma_max"]


def same(a, b):
    """Equal up to the last bits that MKL's sums give ensembles of another size."""
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12, atol=1e-300)


def test_model_stopped_at_step_s_has_the_numbers_of_a_run_of_s_steps():
    stopped = train_trial(stopping_cell())
    runs = stopped.runs
    frozen = runs[runs.solved_step.notna() & (runs.steps_trained < 60)]
    assert len(frozen) >= 3 and frozen.solved_step.nunique() >= 2  # the test has teeth
    assert (frozen.steps_trained == frozen.solved_step).all()
    for e, row in frozen.iterrows():
        s = int(row.solved_step)
        alone = train_trial(stopping_cell(lr=[row.lr], seeds=[int(row.seed)], steps=s,
                                         stop_when_solved=False))  # fmt: skip
        a, b = alone.runs.iloc[0], row
        for col in ("final_loss", "final_metric", "val_loss", "val_metric", "max_grad_norm"):
            assert a[col] == pytest.approx(b[col], rel=1e-12), col
        assert a.status == b.status and a.solved_step == s
        ca, cb = alone.curves, stopped.curves[stopped.curves.model == e]
        assert ca.step.tolist() == cb.step.tolist() and ca.step.max() == s
        same(ca[NUMBERS].to_numpy(), cb[NUMBERS].to_numpy())
        pa, pb = alone.profiles, stopped.profiles[stopped.profiles.model == e]
        assert sorted(pa.step.unique()) == sorted(pb.step.unique()) == [0, s]
        same(pa.log10_grad_norm, pb.log10_grad_norm)


def test_frozen_models_leave_the_ensemble_without_changing_the_others():
    """With stopping, models leave the batched compute; every model's numbers up to its own stop
    equal those of the same cell trained without stopping (all models to the end)."""
    stopped = train_trial(stopping_cell())
    full = train_trial(stopping_cell(stop_when_solved=False))
    assert (stopped.runs.steps_trained < 60).any() and (full.runs.steps_trained == 60).all()
    assert stopped.runs.solved_step.equals(full.runs.solved_step)  # recorded without stopping too
    for e, row in stopped.runs.iterrows():
        a = stopped.curves[(stopped.curves.model == e) & (stopped.curves.step % 20 == 0)]
        b = full.curves[(full.curves.model == e) & (full.curves.step <= row.steps_trained)]
        same(a[NUMBERS].to_numpy(), b[NUMBERS].to_numpy())
    last = full.runs[stopped.runs.steps_trained == 60]  # never frozen: identical to the end
    assert len(last)
    same(stopped.runs.loc[last.index, "final_loss"], last.final_loss)


def test_cell_ends_when_every_model_is_frozen():
    res = train_trial(stopping_cell(lr=[0.03], steps=400))
    assert (res.runs.solved_step.notna()).all() and res.runs.steps_trained.max() < 400
    assert res.curves.step.max() == res.runs.steps_trained.max()


def test_model_in_an_lr_sweep_equals_that_model_trained_alone():
    sweep = train_trial(stopping_cell(stop_when_solved=False))
    assert sorted(sweep.runs.lr.unique()) == [0.003, 0.03]
    for e, row in sweep.runs.iterrows():
        alone = train_trial(
            stopping_cell(lr=[row.lr], seeds=[int(row.seed)], stop_when_solved=False)
        )
        assert alone.runs.final_loss.iloc[0] == pytest.approx(row.final_loss, rel=1e-12)
        b = sweep.curves[sweep.curves.model == e]
        same(alone.curves[NUMBERS].to_numpy(), b[NUMBERS].to_numpy())


def test_selected_lr_has_most_validation_solves_then_lowest_median_loss():
    from rnnbench.tasks import TASKS
    from rnnbench.train import selected_lr

    task, spec = TASKS["adding"], resolve.spec(TrialSpec, {}).task  # solved at loss <= 1/60
    runs = pd.DataFrame(
        dict(
            clip=["none"] * 6 + ["norm"] * 4,
            clip_threshold=[np.inf] * 6 + [1.0] * 4,
            lr=[0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 0.1, 0.1, 0.01, 0.01],
            # none: lr 0.01 solves 2 (wins over 0.001's lower median loss with 1 solve)
            # norm: no lr solves; lr 0.1 has the lower median loss (a NaN counts as infinite)
            val_loss=[0.1, np.nan, 0.01, 0.015, 0.001, 0.1, 0.05, 0.06, 0.07, np.nan],
            val_metric=[0.1, np.nan, 0.01, 0.015, 0.001, 0.1, 0.05, 0.06, 0.07, np.nan],
        )
    )
    chosen = runs[selected_lr(runs, task, spec)]
    assert chosen.groupby("clip").lr.unique().map(list).to_dict() == {"none": [0.01], "norm": [0.1]}


def test_clip_thresholds_are_exact_float64():
    """0.1 is not a float32: the per-model thresholds keep the spec's double."""
    from rnnbench.train import _Run

    run = _Run(cell(clipping=[{"mode": "value", "threshold": 0.1}]), None)
    assert run.thresholds.dtype == torch.float64 and (run.thresholds == 0.1).all()


def test_a_freeze_margin_trains_a_model_that_only_meets_the_criterion_on():
    """solved_step is the first check that meets the criterion; a model is frozen only at the
    first check that beats it by the margin, and trains on in between."""
    plain = train_trial(stopping_cell())
    margin = train_trial(stopping_cell(freeze_margin=0.5))
    assert margin.runs.solved_step.equals(plain.runs.solved_step)
    later = margin.runs.steps_trained > plain.runs.steps_trained
    assert later.any()  # the test has teeth: some model met the criterion but not the margin
    assert (margin.runs.steps_trained >= plain.runs.steps_trained).all()
    frozen = margin.runs[margin.runs.steps_trained < 60]
    bound = 0.97 * 0.5 * frozen.baseline_loss
    assert (frozen.val_loss <= bound).all()  # frozen models beat the criterion by the margin

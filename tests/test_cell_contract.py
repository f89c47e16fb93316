"""The cell contract's parts, each against an independent reference: a cell's own
hyperparameters (validated in one line, expanded in grids, written as columns, in labels and
metadata), the once-per-pass `prepare`, the input size at init, `constrain` after each optimizer
step, per-parameter learning-rate scales, the probed state, and what every table records."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from rnnbench import cells, config, resolve, sections, tables
from rnnbench.cells import Cell, param
from rnnbench.errors import SpecError
from rnnbench.gradients import gradient_profile
from rnnbench.models import Ensemble
from rnnbench.optim import EnsembleOptimizer
from rnnbench.spec import ModelSpec, ProbeSpec, TrainSpec, TrialSpec
from rnnbench.tasks import TASKS
from rnnbench.train import probe_trial, train_trial


@dataclasses.dataclass(frozen=True)
class LeakyParams:
    leak: float = param(0.5, "how much of h_{t-1} is kept", gt=0, max=1)
    gain: int = param(1, "a whole-number gain on the input", min=1)
    mode: str = param("tanh", "the nonlinearity", choices=("tanh", "relu"))


class Leaky(Cell):
    """h_t = leak h_{t-1} + (1 - leak) f(W h_{t-1} + gain xp_t): a cell with hyperparameters,
    a `prepare` that counts its calls, an init that reads the input size, a constraint and an
    lr scale."""

    name, label = "leaky", "Leaky"
    uses = ()
    Params = LeakyParams
    prepared = 0  # prepare's calls (a class attribute: the registry holds one instance)

    def init_recurrent(self, spec, gen):
        return {"W": torch.randn(spec.hidden_size, spec.hidden_size, generator=gen).double()}

    def init_input(self, spec, gen):
        h = spec.hidden_size  # U = 1 / D everywhere: the input size reaches the init
        return {"U": torch.full((h, spec.input_size), 1 / spec.input_size, dtype=torch.float64),
                "b": torch.zeros(h, dtype=torch.float64)}  # fmt: skip

    def prepare(self, model):
        type(self).prepared += 1
        return model.W.transpose(1, 2) * 0.5  # (E, H, H): W^T / 2

    def step(self, model, state, xp_t, w_t):
        p = model.hparams
        f = torch.tanh if p.mode == "tanh" else torch.relu
        h = state[0]
        return (p.leak * h + (1 - p.leak) * f(torch.bmm(h, w_t) + p.gain * xp_t),)

    def constrain(self, model):
        model.W.clamp_(-0.1, 0.1)

    def lr_scales(self, model):
        return {"W": 0.5}


LEAKY = "tests.test_cell_contract:Leaky"


def leaky_reference(model: Ensemble, x: torch.Tensor, e: int) -> torch.Tensor:
    """The plain loop of Leaky's equation for model e: x (L, B, D) -> h (L, B, H)."""
    p = model.hparams
    f = torch.tanh if p.mode == "tanh" else torch.relu
    h = torch.zeros(x.shape[1], model.spec.hidden_size, dtype=x.dtype)
    out = []
    for t in range(x.shape[0]):
        a = h @ (0.5 * model.W[e]).T + p.gain * (x[t] @ model.U[e].T + model.b[e])
        h = p.leak * h + (1 - p.leak) * f(a)
        out.append(h)
    return torch.stack(out)


# --- hyperparameters ----------------------------------------------------------------------


def test_hyperparameters_are_checked_filled_and_reach_the_step():
    spec = resolve.spec(ModelSpec, {"cell": LEAKY, "params": {"leak": 0.25, "mode": "relu"}})
    assert spec.params == {"leak": 0.25, "gain": 1, "mode": "relu"}  # defaults filled
    model = Ensemble(dataclasses.replace(spec, hidden_size=4), 3, 1, [0, 1], torch.float64)
    assert model.hparams == LeakyParams(leak=0.25, mode="relu")
    x = torch.randn(6, 2, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    hs = model(x, every_step=True)  # (L, E, B, O): the read-out of every h
    for e in range(2):
        ref = leaky_reference(model, x[:, e], e) @ model.V[e].T + model.c[e]
        torch.testing.assert_close(hs[:, e], ref, rtol=1e-12, atol=1e-12)
    assert torch.equal(model.U, torch.full_like(model.U, 1 / 3))  # init_input saw D = 3


@pytest.mark.parametrize(
    "params,message",
    [
        ({"lek": 0.3}, f"model.params.lek: unknown hyperparameter of the cell '{LEAKY}' "
                       "(it has: leak, gain, mode)"),
        ({"leak": 0}, f"model.params.leak: must be > 0, got 0.0 (a hyperparameter of the cell "
                      f"'{LEAKY}')"),
        ({"gain": 1.5}, "model.params.gain: expected int, got float 1.5"),
        ({"mode": "gelu"}, "model.params.mode: unknown value 'gelu' (expected one of: tanh, relu)"),
        ({"leak": [0.1, 0.2]}, "model.params.leak: expected float, got list"),
    ],
)  # fmt: skip
def test_a_bad_hyperparameter_is_one_line_naming_the_key(params, message):
    with pytest.raises(SpecError) as err:
        resolve.spec(TrialSpec, {"model": {"cell": LEAKY, "params": params}})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_cell_without_hyperparameters_says_so():
    with pytest.raises(SpecError, match=r"model.params.dt: unknown hyperparameter of the cell "
                                        r"'lstm' \(it has none\)"):  # fmt: skip
        resolve.spec(TrialSpec, {"model": {"cell": "lstm", "params": {"dt": 1}}})


def test_a_grid_expands_hyperparameter_lists_into_labelled_variants():
    block = {"cell": LEAKY, "params": {"leak": [0.5, 0.25], "mode": "relu"}, "init": "default"}
    found = sections.variants([block, {"cell": "lstm", "probe_state": ["h", "c"]}], "e1.models")
    labels = [label for _, label, _, _ in found]
    # a hyperparameter at its default stays out of the label; the probed state c goes in
    assert labels == ["leaky-mode_relu", "leaky-leak0.25-mode_relu", "lstm-default-fb1",
                      "lstm-default-fb1-state_c"]  # fmt: skip
    assert [m.params for _, _, _, m in found][:2] == [
        {"leak": 0.5, "gain": 1, "mode": "relu"},
        {"leak": 0.25, "gain": 1, "mode": "relu"},
    ]
    assert found[1][2] == {"cell": LEAKY, "init": "default",
                           "params": {"leak": 0.25, "mode": "relu"}}  # fmt: skip


def test_a_bad_hyperparameter_in_a_pipeline_config_names_its_block():
    bad = {"e1_init": {"models": [{"cell": "rnn"}, {"cell": LEAKY, "params": {"leek": [1, 2]}}]}}
    with pytest.raises(SpecError) as err:
        config.load(bad)
    assert str(err.value).startswith(
        "--config: e1_init.models[1].params.leek: unknown hyperparameter of the cell"
    )


def test_hyperparameters_are_columns_and_metadata_of_every_table():
    spec = resolve.spec(TrialSpec, {
        "task": {"name": "adding", "seq_len": 6, "val_size": 16, "test_size": 16},
        "model": {"cell": LEAKY, "hidden_size": 4, "params": {"gain": 2}},
        "train": {"steps": 2, "log_every": 1, "batch_size": 4, "seeds": [0, 1]},
    })  # fmt: skip
    result = train_trial(spec)
    for table in (result.runs, result.curves, result.profiles):
        assert set(table["param_leak"]) == {0.5} and set(table["param_gain"]) == {2}
        assert set(table["param_mode"]) == {"tanh"}
    assert result.meta["spec"]["model"]["params"] == {"leak": 0.5, "gain": 2, "mode": "tanh"}


def test_built_in_tables_gain_no_hyperparameter_column_but_indrnns_bound():
    def probe(cell):
        return probe_trial(resolve.spec(ProbeSpec, {
            "task": {"name": "adding", "seq_len": 5}, "model": {"cell": cell, "hidden_size": 3},
            "seeds": [0], "batch_size": 2}))  # fmt: skip

    assert not [c for c in probe("lstm").profiles if c.startswith("param_")]
    assert set(probe("indrnn").profiles["param_u_max"]) == {0.0}


# --- the hooks --------------------------------------------------------------------------------


def test_prepare_runs_once_per_pass_of_forward_and_probe():
    spec = resolve.spec(ModelSpec, {"cell": LEAKY, "hidden_size": 4})
    task = TASKS["adding"]
    model = Ensemble(spec, task.input_size, task.output_size, [0, 1], torch.float64)
    rng = np.random.default_rng(0)
    xs, ys = zip(*(task.sample(3, 20, rng) for _ in range(2)), strict=True)
    x, y = torch.from_numpy(np.stack(xs, 1)).double(), torch.from_numpy(np.stack(ys)).double()
    Leaky.prepared = 0
    model(x)
    assert Leaky.prepared == 1
    gradient_profile(model, task, x, y)
    assert Leaky.prepared == 2  # one pass forward; the backward's steps reuse its context


def test_lr_scale_is_a_parameter_group_of_torch_optim():
    """A parameter with scale s follows torch.optim.Adam with a group at lr x s."""
    gen = torch.Generator().manual_seed(0)
    p, q = (torch.randn(2, 3, dtype=torch.float64, generator=gen) for _ in range(2))
    ours = [p.clone(), q.clone()]
    opt = EnsembleOptimizer(ours, TrainSpec(optimizer="adam", lr=[0.01]), scales=[1.0, 0.1])
    refs = [[torch.nn.Parameter(t[e].clone()) for t in (p, q)] for e in range(2)]
    torch_opts = [torch.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.001}], lr=0.01)
                  for a, b in refs]  # fmt: skip
    for _ in range(4):
        grads = [torch.randn(2, 3, dtype=torch.float64, generator=gen) for _ in range(2)]
        opt.step([g.clone() for g in grads], torch.tensor([True, True]))
        for e, (a, b) in enumerate(refs):
            a.grad, b.grad = grads[0][e].clone(), grads[1][e].clone()
            torch_opts[e].step()
    for e, (a, b) in enumerate(refs):
        torch.testing.assert_close(ours[0][e], a.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(ours[1][e], b.detach(), rtol=1e-12, atol=1e-14)


def test_constrain_runs_after_every_optimizer_step():
    """IndRNN's u_max: every logged |u| (the spectral radius of diag(u)) within the bound after
    the first step; the same run without it goes beyond."""

    def radius(params):
        spec = resolve.spec(TrialSpec, {
            "task": {"name": "adding", "seq_len": 5, "val_size": 8, "test_size": 8},
            "model": {"cell": "indrnn", "init": "identity", "rho": 1.0, "hidden_size": 4,
                      "params": params},
            "train": {"lr": 0.05, "steps": 6, "log_every": 1, "batch_size": 4, "seeds": [0]},
            "runtime": {"dtype": "float64"},
        })  # fmt: skip
        curves = train_trial(spec).curves
        return curves.set_index("step")["spectral_radius"]

    free, bounded = radius({}), radius({"u_max": 0.98})
    assert free[0] == bounded[0] == pytest.approx(1.0)  # the init, before any step
    assert (bounded[1:] <= 0.98 + 1e-12).all() and (free[1:] > 0.98).any()


def test_a_probe_of_the_lstms_cell_state_matches_the_autograd_path():
    """probe_state c: the hand-written probe against the backward through the reference step
    (conformance's `probe` check compares it with autograd's retained gradients)."""
    task = TASKS["adding"]
    spec = resolve.spec(ModelSpec, {"cell": "lstm", "hidden_size": 5, "probe_state": "c"})
    model = Ensemble(spec, task.input_size, task.output_size, [0, 1], torch.float64)
    rng = np.random.default_rng(1)
    xs, ys = zip(*(task.sample(4, 15, rng) for _ in range(2)), strict=True)
    x, y = torch.from_numpy(np.stack(xs, 1)).double(), torch.from_numpy(np.stack(ys)).double()
    fast = gradient_profile(model, task, x, y)
    no_backward = {"forward": None, "backward": None, "compiled_probe": Cell.compiled_probe}
    model.cell = type("Reference", (type(model.cell),), no_backward)()
    plain = gradient_profile(model, task, x, y)
    np.testing.assert_allclose(plain.log10_grad_norm, fast.log10_grad_norm, rtol=0, atol=1e-9)
    assert np.isneginf(fast.log10_grad_norm[:, -1]).all()  # c_T: only h_T is read out
    h = gradient_profile(Ensemble(dataclasses.replace(spec, probe_state="h"), 2, 1, [0, 1],
                                  torch.float64), task, x, y)  # fmt: skip
    assert not np.allclose(h.log10_grad_norm[:, :-1], fast.log10_grad_norm[:, :-1])


# --- provenance and the all-diverged trial -------------------------------------------------


def test_tables_record_what_ran_them(tmp_path, monkeypatch):
    plugin = tmp_path / "mycell.py"
    source = "from tests.test_cell_contract import Leaky\n\nclass Mine(Leaky):\n    pass\n"
    plugin.write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = resolve.spec(ProbeSpec, {"task": {"name": "adding", "seq_len": 4},
                                    "model": {"cell": "mycell:Mine", "hidden_size": 3},
                                    "seeds": [0], "batch_size": 2})  # fmt: skip
    ran = probe_trial(spec).meta["versions"]
    assert ran["cell_source"] == [f"leaky {tables.source_hash(cells.get('mycell:Mine').__class__)}"]
    assert ran["threads"] == [str(torch.get_num_threads())] and ran["blas"][0] != "unknown"
    assert ran["cpu"][0] and ran["git"][0]
    plugin.write_text(source + "# edited\n")
    assert (
        tables.source_hash(cells.get("mycell:Mine").__class__) != ran["cell_source"][0].split()[1]
    )
    rnn = {"task": {"name": "adding", "seq_len": 4}, "model": {"hidden_size": 3}, "seeds": [0]}
    built_in = probe_trial(resolve.spec(ProbeSpec, rnn)).meta["versions"]
    assert built_in["cell_source"][0].startswith("rnn rnnbench-sha256:")
    merged = tables.merged_versions([{"versions": ran}, {"versions": built_in}])
    assert len(merged["cell_source"]) == 2


def test_every_model_diverging_at_step_0_writes_diverged_rows():
    """The issue's case: a linear RNN at rho = 100000 overflows at once; before, KeyError."""
    spec = resolve.spec(TrialSpec, {
        "task": {"name": "adding", "seq_len": 50, "val_size": 16, "test_size": 16},
        "model": {"cell": "rnn", "nonlinearity": "linear", "init": "orthogonal",
                  "rho": 100000, "hidden_size": 8},
        "train": {"lr": [0.01, 0.1], "steps": 5, "batch_size": 4, "seeds": [0, 1]},
    })  # fmt: skip
    result = train_trial(spec)
    assert list(result.runs["status"]) == ["diverged"] * 4
    assert list(result.runs["diverged_step"]) == [0] * 4
    assert result.profiles.empty and "model" in result.profiles
    assert set(result.curves["step"]) == {0}


def test_the_cli_writes_the_all_diverged_trial(tmp_path, capsys):
    from rnnbench import cli

    path = tmp_path / "spec.yaml"
    model = "{cell: rnn, nonlinearity: linear, init: orthogonal, rho: 100000, hidden_size: 8}"
    path.write_text(f"task: {{name: adding, seq_len: 50}}\nmodel: {model}\ntrain: {{steps: 3}}\n")
    assert cli.main(["train", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    runs = pd.read_parquet(tmp_path / "out/runs.parquet")
    assert list(runs["status"]) == ["diverged"]

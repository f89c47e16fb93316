"""The conformance suite (`rnnbench check-cell`): every built-in cell, every example cell and
the research cells pass every check (these ARE the built-ins' contract tests, parametrized over
the registry), and each kind of broken cell is one line naming the cell and the problem, from
the check, the CLI and the pipeline loader, before anything runs."""

import dataclasses
import subprocess
import sys

import pytest
import torch

from rnnbench import cli, config, conformance
from rnnbench.cells import CELLS, Cell, MatrixCell
from rnnbench.cells.lstm97 import LSTM97
from rnnbench.errors import SpecError
from tests.cases import CASES
from tests.workflow import ROOT, copy_workflow

EXAMPLES = [ROOT / "examples/custom_cell", ROOT / "examples/research_cells"]
SPECS = [  # (cell, params, other model keys)
    *[(name, {}, {"nonlinearity": f}) for name, f in CASES],
    ("lstm", {}, {"probe_state": "c", "forget_bias": 0.0}),
    ("indrnn", {"u_max": 0.9}, {"nonlinearity": "relu", "init": "gaussian"}),
    ("indrnn", {"mag": 2.0, "u_init": "paper", "input_std": 0.001}, {"nonlinearity": "relu"}),
    ("indrnn2", {}, {}),
    ("indrnn2", {}, {"probe_state": "h1"}),
    ("mycells:MGU", {}, {"init": "orthogonal"}),
    ("cornn:CoRNN", {}, {}),
    ("cornn:CoRNN", {"dt": 0.06, "gamma": 66.0, "epsilon": 15.0}, {"probe_state": "z"}),
    ("exprnn:ExpRNN", {}, {}),
    ("exprnn:ExpRNN", {"skew_init": "cayley"}, {}),
]
# Checks a cell may skip, and why (anything else skipped is a failure of the suite's coverage).
MAY_SKIP = {"backward": "no hand-written backward", "baseline": "no "}


@pytest.fixture(autouse=True)
def _examples_importable(monkeypatch):
    for path in EXAMPLES:
        monkeypatch.syspath_prepend(str(path))


def test_every_registered_cell_is_checked():
    assert {name for name, _, _ in SPECS} >= set(CELLS)


@pytest.mark.parametrize("check", conformance.CHECKS, ids=lambda c: c.name)
@pytest.mark.parametrize("cell,params,fields", SPECS, ids=lambda v: str(v))
def test_the_cells_keep_the_contract(cell, params, fields, check):
    spec = conformance.model_spec(cell, params, **fields)
    why = check.run(spec)
    assert why is None or why.startswith(MAY_SKIP[check.name]), why


def test_the_baseline_is_compared_where_torch_has_one():
    for cell, f in [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]:
        assert conformance.check_baseline(conformance.model_spec(cell, nonlinearity=f)) is None


# --- broken cells: each caught by its check, in one line ------------------------------------


class Plain(MatrixCell):
    """A vanilla RNN, tanh: the cell the broken ones below break."""

    name, label = "plain", "Plain"

    def step(self, model, state, xp_t):
        return (torch.tanh(xp_t + torch.bmm(state[0], model.W.transpose(1, 2))),)


class WrongShape(Plain):
    def step(self, model, state, xp_t):
        return (super().step(model, state, xp_t)[0][..., :-1],)


class BareTensor(Plain):
    def step(self, model, state, xp_t):
        return super().step(model, state, xp_t)[0]


class WrongCount(Plain):
    def step(self, model, state, xp_t):
        h = super().step(model, state, xp_t)[0]
        return (h, h)


class MakesNaN(Plain):
    def step(self, model, state, xp_t):
        return (super().step(model, state, xp_t)[0] * float("nan"),)


class WrongDtype(Plain):
    def step(self, model, state, xp_t):
        return (super().step(model, state, xp_t)[0].double(),)


class MixesModels(Plain):
    def step(self, model, state, xp_t):
        h = super().step(model, state, xp_t)[0]
        return (h + h.mean(0, keepdim=True) * 1e-3,)  # every model reads the others


class Random(Plain):
    def step(self, model, state, xp_t):
        return (super().step(model, state, xp_t)[0] + 1e-9 * torch.rand(1).item(),)


class NotAProjection(Plain):
    def constrain(self, model):
        model.W.mul_(0.5)


class BadScales(Plain):
    def lr_scales(self, model):
        return {"A": 0.1}


class WrongGradient(Plain):
    def step(self, model, state, xp_t):  # an op whose gradient autograd gets wrong
        return (_WrongTanh.apply(xp_t + torch.bmm(state[0], model.W.transpose(1, 2))),)


class _WrongTanh(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        out = torch.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * (1 - out**2) * 1.01


class WrongBackward(MatrixCell):
    """The built-in RNN's hand-written BPTT with a backward that scales dW."""

    name, label = "wrongbackward", "WrongBackward"
    uses = ("nonlinearity", "init", "rho")
    step = CELLS["rnn"].step
    forward = staticmethod(CELLS["rnn"].forward)

    @staticmethod
    def backward(model, cache, dh_out, ws, probe=None):
        grads = CELLS["rnn"].backward(model, cache, dh_out, ws, probe)
        return grads if probe else {**grads, "W": grads["W"] * 1.001}


class UndeclaredTruncation(LSTM97):
    """The 1997 LSTM's truncated step, its truncation not declared."""

    name, label = "undeclared", "Undeclared"
    truncated = ()


class UntruncatedStep(LSTM97):
    """Declares the 1997 LSTM's truncation, computes the full gradient."""

    name, label = "untruncated", "Untruncated"

    def step(self, model, state, xp_t):
        i, g, o = (xp_t + torch.bmm(state[0], model.W.transpose(1, 2))).chunk(3, -1)
        c = state[1] + torch.sigmoid(i) * (4 * torch.sigmoid(g) - 2)
        return (torch.sigmoid(o) * (2 * torch.sigmoid(c) - 1), c)


class HalfStates(Plain):
    states = ("y",)


class NoStep(Cell):
    name, label = "nostep", "NoStep"

    def init_recurrent(self, spec, gen):
        return {}


HERE = "tests.test_conformance"
BROKEN = [  # (class, the check that fails, words of its message)
    ("WrongShape", "step", "step 1: state h has shape (3, 2, 2), expected (3, 2, 3)"),
    ("BareTensor", "step", "step 1 returned a bare tensor (3, 2, 3), expected a tuple of 1 state"),
    ("WrongCount", "step", "step 1 returned 2 states, expected a tuple of 1 state"),
    ("MakesNaN", "finite", "state h is not finite at step 1"),
    ("WrongDtype", "step", "step 1: state h is torch.float64 in a torch.float32 model"),
    ("MixesModels", "determinism", "model 1 alone against in its ensemble: h"),
    ("Random", "determinism", "two runs of the same seeds and inputs gave different states"),
    ("NotAProjection", "constraint", "constrain twice against once: W"),
    ("BadScales", "lr_scales", "lr_scales names 'A', not a parameter (W, U, b, V, c)"),
    ("WrongGradient", "gradients", "autograd"),
    ("WrongBackward", "backward", "hand-written d loss / d W against autograd"),
    ("UndeclaredTruncation", "gradients", "autograd"),
    ("UntruncatedStep", "gradients", "central difference of the loss with h held (truncated"),
]


@pytest.mark.parametrize("name,check,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_cell_fails_its_check_in_one_line(name, check, words):
    results = conformance.run(conformance.model_spec(f"{HERE}:{name}"))
    failed = [r for r in results if r.status == "failed"]
    assert [r.check for r in failed][:1] == [check], failed
    line = str(failed[0])
    assert line.startswith(f"{HERE}:{name}: {check}: failed: ") and words in line, line
    assert "\n" not in line


def test_states_must_be_named_with_h_first():
    with pytest.raises(SpecError, match=f"the cell '{HERE}:HalfStates' has no state 'h'"):
        conformance.model_spec(f"{HERE}:HalfStates")  # probe_state h: checked with the spec
    with pytest.raises(conformance.Fail, match=r"states \('y',\) must be n_states = 1 distinct"):
        spec = dataclasses.replace(conformance.model_spec("rnn"), cell=f"{HERE}:HalfStates")
        conformance.check_states(spec)


LOADER_CASES = [  # (cell, params, words of the one line), the list
    (f"{HERE}:WrongShape", {}, "fails check-cell step: step 1: state h has shape (3, 2, 2)"),
    (f"{HERE}:BareTensor", {}, "fails check-cell step: step 1 returned a bare tensor"),
    (f"{HERE}:WrongCount", {}, "fails check-cell step: step 1 returned 2 states"),
    (f"{HERE}:MakesNaN", {}, "fails check-cell finite: state h is not finite at step 1"),
    (f"{HERE}:NoStep", {}, "does not define step"),
    (f"{HERE.replace('conformance', 'conformanse')}:Plain", {}, "cannot import"),
    (f"{HERE}:Plain", {"dt": 0.1}, "unknown hyperparameter of the cell"),
]


@pytest.mark.parametrize("cell,params,words", LOADER_CASES)
def test_the_cli_refuses_a_broken_cell_in_one_line(tmp_path, capsys, cell, params, words):
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"task: {{name: adding, seq_len: 5}}\nmodel: {{cell: '{cell}', params: "
                    f"{params}}}\ntrain: {{steps: 1}}\n")  # fmt: skip
    assert cli.main(["train", str(spec), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err and cell in err, err
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


@pytest.mark.parametrize("cell,params,words", LOADER_CASES)
def test_the_pipeline_refuses_a_broken_cell_in_one_line(cell, params, words):
    blocks = [{"cell": "rnn"}, {"cell": cell, "params": params}]
    with pytest.raises(SpecError) as err:
        config.load({"e1_init": {"models": blocks}})
    message = str(err.value)
    assert message.startswith("--config: e1_init.models[1]") and words in message, message
    assert cell in message and "\n" not in message


@pytest.mark.slow
def test_snakemake_stops_on_a_broken_cell_before_any_job(tmp_path):
    work = copy_workflow(tmp_path / "work")
    (work / "broken.yaml").write_text(
        f"e3_long_range:\n  models:\n    - {{name: rnn, cell: rnn}}\n"
        f"    - {{name: broken, cell: '{HERE}:BareTensor'}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile",
         ".test/config/config.yaml", "broken.yaml"],
        cwd=work, capture_output=True, text=True, timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{work / 'src'}:{ROOT}"},
    )  # fmt: skip
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("invalid config: broken.yaml: e3_long_range.models[1].cell: ")
    assert f"'{HERE}:BareTensor' fails check-cell step: step 1 returned a bare tensor" in last

"""The cell contract, checked: `rnnbench check-cell module:Class` and the spec and pipeline
loaders run these checks on a cell before any job (scikit-learn's `check_estimator` and
benchopt's plugin tests are the model). Each check builds a tiny ensemble (3 models, H = 3,
batch 2, T = 5, the adding task's inputs) and compares the cell against an independent
reference; a failure is one line naming the cell, the check and the numbers.

Quick checks (`QUICK`, run by the loaders on a plugin cell, milliseconds): its hyperparameters
and states are declared as the protocol says, its init draws float64 tensors of the right
shapes, its step returns a tuple of `n_states` (E, B, H) tensors of the input's dtype that stay
finite, two runs give the same numbers bit for bit, a model's NaN leaves the other models
unchanged, its `constrain` is a projection (applying it twice changes nothing), and its
`lr_scales` name its parameters. All checks (`CHECKS`, the command and the tests) add, in
float64: autograd's gradients against central finite differences (for a cell whose training
gradient is truncated, `Cell.truncated`, of a surrogate loss with those states held at their
values where they enter each step: exactly the gradient the cell declares), the gradient probe
against autograd, the hand-written backward (if any) against autograd, and `torch_baseline` (if any)
against the cell.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from . import bptt, cells, resolve
from .errors import SpecError
from .gradients import gradient_profile
from .models import Ensemble
from .registry import one_line
from .spec import ModelSpec
from .tasks import TASKS

SEEDS, BATCH, STEPS, HIDDEN = [0, 1, 2], 2, 5, 3  # the tiny ensemble every check builds
TYPES = (int, float, str, bool)  # what a hyperparameter may be


class Fail(Exception):
    """A check's failure: the detail, one line."""


@dataclass(frozen=True)
class Result:
    """One check of one cell: passed, failed (detail) or skipped (why)."""

    cell: str
    check: str
    status: str  # ok, failed, skipped
    detail: str = ""

    def __str__(self) -> str:
        detail = {"failed": f": {self.detail}", "skipped": f" ({self.detail})"}.get(self.status)
        return f"{self.cell}: {self.check}: {self.status}{detail or ''}"


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[ModelSpec], str | None]  # raises Fail; returns None, or why it was skipped
    quick: bool  # run by the loaders too

    @property
    def what(self) -> str:
        """What it compares: its function's docstring."""
        return " ".join((self.run.__doc__ or "").split())


def model_spec(cell: str, params: dict | None = None, **fields) -> ModelSpec:
    """The checked spec of a tiny model of `cell` (H = HIDDEN unless given)."""
    data = {"cell": cell, "params": params or {}, "hidden_size": HIDDEN, **fields}
    return resolve.spec(ModelSpec, data, "model")


def run(spec: ModelSpec, quick: bool = False) -> list[Result]:
    """Every check (the quick ones only with quick) of the cell of spec, in order; a check whose
    prerequisite failed (the init, the step) is skipped."""
    out, broken = [], False
    for check in CHECKS:
        if quick and not check.quick:
            continue
        if broken and check.name not in ("hyperparameters", "states", "init"):
            out.append(Result(spec.cell, check.name, "skipped", "the step does not run"))
            continue
        try:
            why = check.run(spec)
        except Fail as err:
            out.append(Result(spec.cell, check.name, "failed", str(err)))
            broken |= check.name in ("init", "step")
            continue
        except Exception as err:  # a cell's own error: one line, not its traceback
            out.append(Result(spec.cell, check.name, "failed", f"raised {one_line(err)}"))
            broken |= check.name in ("init", "step")
            continue
        out.append(Result(spec.cell, check.name, "skipped", why) if why else
                   Result(spec.cell, check.name, "ok"))  # fmt: skip
    return out


def require(spec: ModelSpec, key: str = "model.cell") -> None:
    """The quick checks on a tiny model of spec's cell (with spec's settings), as a loader runs
    them: the first failure as a one-line SpecError for key."""
    for result in run(dataclasses.replace(spec, hidden_size=HIDDEN), quick=True):
        if result.status == "failed":
            raise SpecError(key, f"{spec.cell!r} fails check-cell {result.check}: {result.detail}")


def require_plugins(models) -> None:
    """`require` for each (key, ModelSpec) whose cell is a plugin (an import path: the built-in
    cells pass every check in CI), each distinct model once."""
    seen = set()
    for key, spec in models:
        if ":" in spec.cell and repr(spec) not in seen:
            seen.add(repr(spec))
            require(spec, key)


# --- the tiny ensemble and its data --------------------------------------------------------


def _data(task_name: str = "adding", n: int = len(SEEDS), seed: int = 0):
    """x (L, E, B, D) float64 and targets, one batch per model (the task's own sampler)."""
    task = TASKS[task_name]
    rng = np.random.default_rng(seed)
    xs, ys = zip(*(task.sample(BATCH, STEPS, rng) for _ in range(n)), strict=True)
    x = torch.from_numpy(np.stack(xs, 1)).double()
    y = torch.from_numpy(np.stack(ys, -2))
    return task, x, (y.double() if task.regression else y)


def _ensemble(spec: ModelSpec, task, dtype=torch.float64, seeds=SEEDS) -> Ensemble:
    return Ensemble(spec, task.input_size, task.output_size, list(seeds), dtype, task.length(STEPS))


def _states(model: Ensemble, x: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """Every state tuple of the reference steps, the initial one first, each step checked."""
    context, state = model.context(), model.initial_state(x.shape[2])
    out = [state]
    for t, xp_t in enumerate(model.input_projection(x.to(model.U.dtype)).unbind(0)):
        state = model.step(state, xp_t, context)
        _check_state(model, state, t + 1, xp_t.dtype)
        out.append(state)
    return out


def _check_state(model: Ensemble, state, t: int, dtype) -> None:
    cell, n = model.cell, model.cell.n_states
    shape = (model.n_models, BATCH, model.spec.hidden_size)
    want = f"a tuple of {n} state{'s' * (n > 1)} (E, B, H) = {shape}"
    if isinstance(state, torch.Tensor):
        raise Fail(f"step {t} returned a bare tensor {tuple(state.shape)}, expected {want}")
    if not isinstance(state, tuple):
        raise Fail(f"step {t} returned a {type(state).__name__}, expected {want}")
    if len(state) != n:
        raise Fail(f"step {t} returned {len(state)} states, expected {want} (n_states = {n})")
    for name, s in zip(cell.state_names, state, strict=True):
        if not isinstance(s, torch.Tensor):
            raise Fail(f"step {t}: state {name} is a {type(s).__name__}, expected {want}")
        if tuple(s.shape) != shape:
            raise Fail(f"step {t}: state {name} has shape {tuple(s.shape)}, expected {shape}")
        if s.dtype != dtype:
            raise Fail(f"step {t}: state {name} is {s.dtype} in a {dtype} model")


def _close(got: torch.Tensor, want: torch.Tensor, tol: float, what: str) -> None:
    """Fail with the largest difference when got and want differ by more than tol (relative
    to max(1, |want|)); NaN must match NaN."""
    got, want = got.detach(), want.detach()
    if got.shape != want.shape:
        raise Fail(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    nan = torch.isnan(want)
    if not torch.equal(torch.isnan(got), nan):
        raise Fail(f"{what}: NaN where the reference has none (or the reverse)")
    diff = ((got - want).abs() / want.abs().clamp_min(1))[~nan]
    if len(diff) and float(diff.max()) > tol:
        i = int(diff.argmax())
        raise Fail(
            f"{what}: {float(got[~nan][i]):.10g} against {float(want[~nan][i]):.10g} "
            f"(difference {float(diff[i]):.2g} > {tol:g})"
        )


# --- quick checks ---------------------------------------------------------------------------


def check_hyperparameters(spec: ModelSpec) -> None:
    """Params is a frozen dataclass of described int, float, str or bool fields."""
    cell = cells.get(spec.cell)
    params = cell.Params
    if not (dataclasses.is_dataclass(params) and params.__dataclass_params__.frozen):
        raise Fail(f"Params must be a frozen dataclass, got {params!r}")
    for f in dataclasses.fields(params):
        if not f.metadata.get("help"):
            raise Fail(f"hyperparameter {f.name} has no description (declare it with param())")
        default = getattr(params(), f.name)
        if type(default) not in TYPES:
            raise Fail(
                f"hyperparameter {f.name}: default {default!r} is not int, float, str or bool"
            )
    resolve.spec(ModelSpec, {"cell": spec.cell}, "model")  # the defaults pass their own checks


def check_states(spec: ModelSpec) -> None:
    """n_states distinct state names, the first h."""
    cell = cells.get(spec.cell)
    names = cell.state_names
    if len(names) != cell.n_states or len(set(names)) != len(names) or names[0] != "h":
        raise Fail(f"states {names} must be n_states = {cell.n_states} distinct names, the first h")


def check_init(spec: ModelSpec) -> None:
    """The inits draw float64 tensors of the right shapes, none named U, b, V or c."""
    cell, task = cells.get(spec.cell), TASKS["adding"]
    s = cells.InitSpec.of(spec, input_size=task.input_size, output_size=task.output_size,
                          hparams=cell.hparams(spec), seq_len=STEPS)  # fmt: skip
    g, h, d = cell.gates, spec.hidden_size, task.input_size
    gen = torch.Generator().manual_seed(0)
    drawn = {
        "init_recurrent": cell.init_recurrent(s, gen),
        "init_input": cell.init_input(s, gen),
        "init_extra": cell.init_extra(s, gen),
    }
    for hook, weights in drawn.items():
        if not isinstance(weights, dict):
            raise Fail(f"{hook} returned a {type(weights).__name__}, expected a dict of tensors")
        for name, w in weights.items():
            if not (isinstance(w, torch.Tensor) and w.dtype == torch.float64):
                raise Fail(f"{hook}: {name} is {getattr(w, 'dtype', type(w).__name__)}, "
                           "expected a float64 tensor")  # fmt: skip
    shapes = {name: tuple(w.shape) for name, w in drawn["init_input"].items()}
    if shapes != {"U": (g * h, d), "b": (g * h,)}:
        raise Fail(f"init_input gave {shapes}, expected U {(g * h, d)} and b {(g * h,)}")
    shared = {"U", "b", "V", "c"} & (set(drawn["init_recurrent"]) | set(drawn["init_extra"]))
    if shared:
        raise Fail(f"init_recurrent or init_extra names {sorted(shared)}, the ensemble's own")
    _ensemble(spec, task)


def check_step(spec: ModelSpec) -> None:
    """Each step returns a tuple of n_states (E, B, H) tensors of the input's dtype (float64,
    float32)."""
    task, x, _ = _data()
    for dtype in (torch.float64, torch.float32):
        _states(_ensemble(spec, task, dtype), x)


def check_finite(spec: ModelSpec) -> None:
    """Finite weights and inputs give finite states."""
    task, x, _ = _data()
    for t, state in enumerate(_states(_ensemble(spec, task), x)):
        for name, s in zip(cells.get(spec.cell).state_names, state, strict=True):
            if not torch.isfinite(s).all():
                raise Fail(f"state {name} is not finite at step {t} (finite weights and inputs)")


def check_determinism(spec: ModelSpec) -> None:
    """The same numbers twice, bit for bit, and a model alone as in its ensemble."""
    task, x, _ = _data()
    runs = [torch.stack([s[0] for s in _states(_ensemble(spec, task), x)]) for _ in range(2)]
    if not torch.equal(*runs):
        raise Fail("two runs of the same seeds and inputs gave different states")
    alone = torch.stack([s[0] for s in _states(_ensemble(spec, task, seeds=[1]), x[:, 1:2])])
    _close(alone[:, 0], runs[0][:, 1], 1e-12, "model 1 alone against in its ensemble: h")


def _poisoned(model: Ensemble, e: int = 1) -> Ensemble:
    """A copy of model with every weight of model e NaN."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for p in out.parameters():
            p[e] = math.nan
    return out


def check_isolation(spec: ModelSpec) -> None:
    """A model with NaN weights leaves the other models' states and gradients unchanged."""
    task, x, _ = _data()
    model = _ensemble(spec, task)
    poisoned = _poisoned(model)
    clean = torch.stack([s[0] for s in _states(model, x)])
    dirty = torch.stack([s[0] for s in _states(poisoned, x)])
    grads = [torch.autograd.grad(_loss(m, x), list(m.parameters())) for m in (model, poisoned)]
    for e in (0, 2):
        _close(dirty[:, e], clean[:, e], 0.0, f"model {e}'s h beside a NaN model 1")
        for (name, _), a, b in zip(model.named_parameters(), *grads, strict=True):
            _close(b[e], a[e], 0.0, f"model {e}'s d loss / d {name} beside a NaN model 1")


def check_constraint(spec: ModelSpec) -> None:
    """constrain is a projection: applied twice it changes nothing more."""
    task, _, _ = _data()
    once = _ensemble(spec, task)
    with torch.no_grad():
        for p in once.parameters():  # weights a step could have moved anywhere
            p.mul_(3.0)
        once.cell.constrain(once)
        twice = copy.deepcopy(once)
        twice.cell.constrain(twice)
    for (name, a), b in zip(once.named_parameters(), twice.parameters(), strict=True):
        _close(b.detach(), a.detach(), 0.0, f"constrain twice against once: {name}")


def check_lr_scales(spec: ModelSpec) -> None:
    """lr_scales names parameters, with finite factors >= 0."""
    task, _, _ = _data()
    model = _ensemble(spec, task)
    scales, names = model.cell.lr_scales(model), dict(model.named_parameters())
    for name, scale in scales.items():
        if name not in names:
            raise Fail(f"lr_scales names {name!r}, not a parameter ({', '.join(names)})")
        if not (isinstance(scale, int | float) and math.isfinite(scale) and scale >= 0):
            raise Fail(f"lr_scales[{name!r}] = {scale!r}, expected a finite number >= 0")


# --- full checks (float64, against independent references) ---------------------------------


def _loss(model: Ensemble, x: torch.Tensor) -> torch.Tensor:
    """A scalar of every step's outputs of every model: what the finite differences vary."""
    return model(x, every_step=True).pow(2).sum()


def _held_loss(model: Ensemble, x: torch.Tensor, held: list[tuple[torch.Tensor, ...]]):
    """`_loss` with each of the cell's `truncated` states entering every step at its value in
    `held` (the states of an unperturbed pass, as `_states` returns them), not the live one: a
    surrogate whose exact gradient is the truncated gradient the cell declares."""
    names = model.cell.state_names
    context, state, outs = model.context(), model.initial_state(x.shape[2]), []
    for t, xp_t in enumerate(model.input_projection(x).unbind(0)):
        state = tuple(held[t][i] if n in model.cell.truncated else s
                      for i, (n, s) in enumerate(zip(names, state, strict=True)))  # fmt: skip
        state = model.step(state, xp_t, context)
        outs.append(model.readout(state[0]))
    return torch.stack(outs).pow(2).sum()


def check_gradients(spec: ModelSpec) -> None:
    """Autograd's gradients against central finite differences (float64), at the init with
    every weight moved by N(0, 0.1^2) (no ReLU at its kink: zero biases, tiny inits): of the
    loss, or for a cell with a truncated gradient (`truncated`) of the loss with those states
    held at their values at every step's input (the gradient the cell declares)."""
    task, x, _ = _data()
    model = _ensemble(spec, task)
    params = dict(model.named_parameters())
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in params.values():
            p.add_(0.1 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    grads = dict(
        zip(params, torch.autograd.grad(_loss(model, x), list(params.values())), strict=True)
    )
    truncated = model.cell.truncated
    if truncated:
        with torch.no_grad():
            held = [tuple(s.clone() for s in state) for state in _states(model, x)]

        def loss() -> torch.Tensor:
            return _held_loss(model, x, held)

        what = f" of the loss with {', '.join(truncated)} held (truncated gradient)"
    else:

        def loss() -> torch.Tensor:
            return _loss(model, x)

        what = ""
    eps = 1e-6
    with torch.no_grad():
        for name, p in params.items():
            flat, g = p.view(-1), grads[name].reshape(-1)
            for i in torch.randperm(flat.numel(), generator=gen)[:6].tolist():
                keep = float(flat[i])
                flat[i] = keep + eps
                up = float(loss())
                flat[i] = keep - eps
                down = float(loss())
                flat[i] = keep
                numeric, exact = (up - down) / (2 * eps), float(g[i])
                if abs(numeric - exact) > 1e-5 * max(1.0, abs(exact)):
                    raise Fail(
                        f"d loss / d {name}[{i}]: autograd {exact:.10g}, central difference"
                        f"{what} {numeric:.10g} (float64, eps {eps:g})"
                    )


def _autograd_profile(model: Ensemble, task, x, y) -> tuple[np.ndarray, np.ndarray]:
    """log10 of the norm of the batch-mean and the median per-example norm of dE_T/ds_k, the
    probed state as the next step's input (autograd, every state's gradient retained)."""
    which = model.cell.state_names.index(model.spec.probe_state)
    context, state = model.context(), model.initial_state(x.shape[2])
    inputs = []  # per k, the states as the inputs of step k+1 (k = L: of the read-out)
    for xp_t in [*model.input_projection(x).unbind(0), None]:
        state = tuple(_node(s) for s in state)
        inputs.append(state)
        if xp_t is not None:
            state = model.step(state, xp_t, context)
    loss = task.last_step_loss(model.readout(state[0]), y)
    loss.sum().backward()
    g = torch.stack(
        [
            s[which].grad if s[which].grad is not None else torch.zeros_like(s[which])
            for s in inputs
        ],
        -1,
    )  # (E, B, H, L+1)
    mean = torch.log10(g.mean(1).norm(dim=1))
    median = torch.log10(g.norm(dim=2)).median(1).values
    return mean.detach().numpy(), median.detach().numpy()


def _node(s: torch.Tensor) -> torch.Tensor:
    """A copy of s whose gradient autograd keeps: the gradient of its uses downstream only."""
    out = s.clone() if s.requires_grad else s.clone().requires_grad_(True)
    out.retain_grad()
    return out


def check_probe(spec: ModelSpec) -> None:
    """The gradient probe against autograd's retained state gradients (float64)."""
    task, x, y = _data()
    model = _ensemble(spec, task)
    prof = gradient_profile(model, task, x, y)
    mean, median = _autograd_profile(model, task, x, y)
    for what, got, want in (("mean", prof.log10_grad_norm, mean),
                            ("median", prof.log10_grad_norm_median, median)):  # fmt: skip
        _close(torch.from_numpy(got), torch.from_numpy(want), 1e-9, f"probe log10 norm ({what})")


def check_backward(spec: ModelSpec) -> str | None:
    """The hand-written forward and backward against the step and autograd (float64)."""
    cell = cells.get(spec.cell)
    if (cell.forward is None) != (cell.backward is None):
        raise Fail("defines only one of forward and backward (a hand-written BPTT needs both)")
    if cell.backward is None:
        return "no hand-written backward (autograd differentiates the step)"
    for task_name in ("adding", "copy"):  # the last step's output, every step's output
        task, x, y = _data(task_name)
        model = _ensemble(spec, task)
        active = torch.tensor([True, False, True])
        loss, grads = bptt.loss_and_grads(model, task, x, y, active)
        ref_loss, ref = bptt.autograd_loss_and_grads(model, task, x, y, active)
        _close(
            loss, ref_loss, 1e-10, f"{task_name}: hand-written forward's loss against the step's"
        )
        for (name, _), g, r in zip(model.named_parameters(), grads, ref, strict=True):
            _close(g, r, 1e-10, f"{task_name}: hand-written d loss / d {name} against autograd")
    return None


def check_baseline(spec: ModelSpec) -> str | None:
    """torch_baseline holding the same weights against the cell (float64)."""
    cell = cells.get(spec.cell)
    if cell.torch_baseline is None:
        return "no torch_baseline"
    task, x, _ = _data()
    model = _ensemble(spec, task)
    h = torch.stack([s[0] for s in _states(model, x)][1:])  # (L, E, B, H)
    compared = 0
    for e in range(model.n_models):
        module = cell.baseline_module(model, e)
        if module is None:
            continue
        out = module(x[:, e])
        out = out[0] if isinstance(out, tuple) else out  # (L, B, H)
        _close(
            out.detach(),
            h[:, e].detach(),
            1e-10,
            f"{cell.torch_baseline.__name__} against the cell: h",
        )
        compared += 1
    return None if compared else f"no {cell.torch_baseline.__name__} for this setting"


CHECKS = [
    Check("hyperparameters", check_hyperparameters, quick=True),
    Check("states", check_states, quick=True),
    Check("init", check_init, quick=True),
    Check("step", check_step, quick=True),
    Check("finite", check_finite, quick=True),
    Check("determinism", check_determinism, quick=True),
    Check("isolation", check_isolation, quick=True),
    Check("constraint", check_constraint, quick=True),
    Check("lr_scales", check_lr_scales, quick=True),
    Check("gradients", check_gradients, quick=False),
    Check("probe", check_probe, quick=False),
    Check("backward", check_backward, quick=False),
    Check("baseline", check_baseline, quick=False),
]

"""The cell protocol: what a recurrent cell family owns, and what every cell shares.

A cell is a `Cell` subclass. It owns its recurrent weights (drawn by the init scheme that
`model.init` names, `cells.inits`, where it asks for one), its state layout, its plain-torch
reference step (the autograd path every cell has), and optionally its own hyperparameters
(`Params`, given as `model.params` in a spec), a once-per-pass `prepare` whose result every step
receives, the init of its input weights U and b (`init_input`), a projection after each optimizer
step (`constrain`), per-parameter learning-rate scales (`lr_scales`), a truncated training
gradient (`truncated`), a hand-written BPTT (`forward` / `backward`, `compiled_probe`), its
gradient bound, its memory and FLOP counts and its `torch.nn` baseline. Everything else
(`models.Ensemble`, `bptt`, `gradients`, `resources`, `bench`) asks the cell and never branches
on its name; `rnnbench.conformance` checks that a cell keeps this contract (`rnnbench check-cell`).

Shapes: E models, B examples, L steps, D inputs, H hidden units, G gate blocks, O outputs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..spec import ModelSpec, opt, parse
from .inits import INITS


@dataclass(frozen=True)
class Nonlinearity:
    fn: Callable[[torch.Tensor], torch.Tensor]
    gamma: float  # sup |f'|: the factor in the BPTT bound (gamma * sigma_max(W))^(T-k)


NONLINEARITIES = {
    "linear": Nonlinearity(lambda a: a, 1.0),
    "tanh": Nonlinearity(torch.tanh, 1.0),
    "sigmoid": Nonlinearity(torch.sigmoid, 0.25),
    "relu": Nonlinearity(torch.relu, 1.0),
}


def param(default, help: str, choices=None, min=None, gt=None, max=None, lt=None):
    """A cell's hyperparameter: a field of its `Params` dataclass, with its default, a one-line
    description and its constraints (checked as every spec key is, in one line naming it)."""
    return opt(default, help, choices=choices, min=min, gt=gt, max=max, lt=lt)


@dataclass(frozen=True)
class NoParams:
    """The hyperparameters of a cell that declares none."""


@dataclass(frozen=True)
class InitSpec(ModelSpec):
    """What a cell's init hooks see: the model spec, the task's input and output sizes and
    sequence length, and the cell's hyperparameters (its `Params`, defaults filled)."""

    input_size: int = 1  # D
    output_size: int = 1  # O
    hparams: object = NoParams()
    seq_len: int | None = None  # L, the steps the model reads; None: built without a task

    @classmethod
    def of(cls, spec: ModelSpec, **given) -> InitSpec:
        """spec's fields, with the task's and the cell's facts given (input_size, ...)."""
        return cls(**{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}, **given)


class Cell:
    """A recurrent cell family. Subclasses set the class attributes and define `init_recurrent`
    and `step`; the rest has defaults (no fast path, no bound: the autograd path computes it)."""

    name: str  # short id used in variant labels and file names, e.g. "rnn"
    label: str  # as the report and figures print it, e.g. "vanilla RNN"
    gates: int = 1  # blocks of H rows in the input projection U x_t + b, (E, G*H, D)
    n_states: int = 1  # state tensors (E, B, H) each; the first is h, the one read out
    states: tuple[str, ...] | None = None  # their names, the first "h" (default h, s1, s2, ...)
    uses: tuple[str, ...] = ("init", "rho")  # ModelSpec fields that change this cell's model
    inits: tuple[str, ...] | None = None  # the init schemes (INITS) it draws; None: every one
    truncated: tuple[str, ...] = ()  # states whose gradient training does not carry back
    # through the step: d step / d s_{t-1} := 0 for these (its step detaches them), as Hochreiter
    # & Schmidhuber's (1997) truncated backprop; `rnnbench.conformance` checks that gradient
    Params: type = NoParams  # a frozen dataclass of hyperparameters, fields made with `param`
    floats_per_unit: float = 20.0  # floats kept per example, step and hidden unit for BPTT
    autograd_factor: float | None = None  # the time model's factor for a step trained by
    # autograd (no `backward`), against the fitted hand-written one; None: resources'
    torch_baseline: type | None = None  # the torch.nn module with the same equations

    # --- what every cell defines ---------------------------------------------------------

    def init_recurrent(self, spec, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """One model's recurrent weights in float64, drawn from gen (drawn before U, b, V, c)."""
        raise NotImplementedError

    def step(self, model, state: tuple[torch.Tensor, ...], xp_t: torch.Tensor, *context) -> tuple:
        """The reference step: state (n_states tensors (E, B, H)), xp_t = U x_t + b (E, B, G*H)
        -> next state. Plain torch ops on model's parameters: autograd differentiates it. A cell
        that defines `prepare` receives its result as a fourth argument."""
        raise NotImplementedError

    # --- optional facts (defaults: none) -------------------------------------------------

    def prepare(self, model):
        """Computed once per pass over a sequence (forward, probe, `recurrent_matrix`) from the
        weights, and passed to every `step` of that pass: e.g. expm(A) of a parametrized W. The
        default: nothing, and `step` takes three arguments."""
        return None

    def init_input(self, spec: InitSpec, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """One model's input weights U (G*H, D) and biases b (G*H,) in float64, drawn after the
        recurrent weights. Default: the init scheme's (`INITS[spec.init].input`; PyTorch's
        U(-1/sqrt(H), 1/sqrt(H)) for default, orthogonal, gaussian and identity)."""
        h = spec.hidden_size
        return INITS[spec.init].input(self.gates * h, spec.input_size, h, gen)

    def init_extra(self, spec, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """Weights drawn after U, b, V and c (one model's, float64)."""
        return {}

    def init_biases(self, spec, b: torch.Tensor) -> None:
        """Set one model's input biases b (G*H,) in place after they are drawn."""

    def constrain(self, model) -> None:
        """Project the weights in place after each optimizer step (under no_grad), each model
        on its own: e.g. clamp a recurrent weight to a bound. Default: no constraint."""

    def lr_scales(self, model) -> dict[str, float]:
        """Per parameter name, the factor on the learning rate of that parameter (a parameter
        group): e.g. {"A": 0.1} trains A at lr/10. Default: every parameter at the lr."""
        return {}

    def hparams(self, spec):
        """The hyperparameters of `spec` (its `params`), as this cell's `Params` with every
        default filled; an unknown or invalid one is a one-line SpecError."""
        return parse(self.Params, spec.params, "model.params")

    @property
    def state_names(self) -> tuple[str, ...]:
        """The states' names, in order: `states`, or h, s1, s2, ... (the first is h, read out)."""
        return tuple(self.states or ("h", *(f"s{i}" for i in range(1, self.n_states))))

    @property
    def prepares(self) -> bool:
        """Whether the cell defines `prepare` (then `step` takes its result)."""
        return type(self).prepare is not Cell.prepare

    def recurrent_weights(self, hidden: int) -> int:
        """Recurrent weights of one model (memory, FLOP counts)."""
        return self.gates * hidden * hidden

    def recurrent_matrix(self, model) -> torch.Tensor | None:
        """The (E, H, H) matrix acting as W in the BPTT product h_k -> h_{k+1}, or None."""
        return None

    def sigma_weights(self, model) -> torch.Tensor | None:
        """The (E, ., H) weights whose largest singular value the runs table reports."""
        return self.recurrent_matrix(model)

    def bound_factor(self, model) -> torch.Tensor | None:
        """gamma per model such that ||dh_T/dh_k|| <= gamma^(T-k), (E,) float64, or None."""
        return None

    def transcendentals(self, spec) -> tuple[int, int]:
        """(tanh, sigmoid) evaluations per example, step and hidden unit that a training step
        (forward and backward) needs at least: the elementwise part of `rnnbench bench`'s
        roofline (none counted by default)."""
        return 0, 0

    def baseline_module(self, model, e: int) -> nn.Module | None:
        """`torch_baseline` holding model e's weights (float64): `rnnbench check-cell` compares
        its outputs with the cell's. None: no baseline to compare with."""
        return None

    omega = None  # omega(model, h, state_grads) -> {weight: dOmega/dweight}: Pascanu et al.'s
    # regulariser (train.omega), from the states h and their loss gradients (E, L+1, B, H) each
    forward = None  # hand-written BPTT: forward(model, x, ws) -> cache with "h" (E, L+1, B, H)
    backward = None  # backward(model, cache, dh_out, ws, probe=None) -> weight grads by name
    compiled_loops = False  # whether they run `kernels`' compiled loops where those build

    def compiled_probe(self, ops, model, cache, dh_last, ws, stats) -> bool:
        """Run the compiled probe loop if this cell has one (-> True)."""
        return False

    # --- shared behaviour ----------------------------------------------------------------

    def initial_state(self, model, batch: int) -> tuple[torch.Tensor, ...]:
        zeros = model.U.new_zeros(model.n_models, batch, model.spec.hidden_size)  # (E, B, H)
        return (zeros,) + tuple(zeros.clone() for _ in range(self.n_states - 1))

    def nonlinearity(self, model) -> Nonlinearity:
        return NONLINEARITIES[model.spec.nonlinearity]

    def __repr__(self) -> str:
        return f"<cell {self.name}>"


class MatrixCell(Cell):
    """A cell whose recurrent weights are one matrix W (E, G*H, H): G blocks of H rows, each drawn
    by the named init scheme; block `candidate` acts as W in the BPTT product h_{k-1} -> h_k."""

    candidate: int = 0

    def init_recurrent(self, spec, gen):
        h = spec.hidden_size
        return {
            "W": torch.cat([INITS[spec.init].matrix(h, spec.rho, gen) for _ in range(self.gates)])
        }

    def recurrent_matrix(self, model):
        h, k = model.spec.hidden_size, self.candidate
        return model.W[:, k * h : (k + 1) * h]  # (E, H, H)

    def sigma_weights(self, model):
        return model.W  # all of W (E, G*H, H)

    def baseline_module(self, model, e: int) -> nn.Module | None:
        """`torch_baseline` holding model e's weights, in float64 (None without a baseline):
        weight_ih = U, weight_hh = W, bias_ih = b, bias_hh = 0 (nn.RNN's and nn.LSTM's layout)."""
        if self.torch_baseline is None:
            return None
        return load_baseline(
            self.torch_baseline(model.U.shape[-1], model.spec.hidden_size),
            U=model.U[e], W=model.W[e], b=model.b[e], b_hh=torch.zeros_like(model.b[e]),
        )  # fmt: skip


def load_baseline(module: nn.Module, U, W, b, b_hh) -> nn.Module:
    """A one-layer torch.nn recurrent module in float64 holding these weights (as plain tensors,
    so that gradients reach the ensemble's)."""
    module = module.double()
    for name, value in (("weight_ih_l0", U), ("weight_hh_l0", W), ("bias_ih_l0", b),
                        ("bias_hh_l0", b_hh)):  # fmt: skip
        del module._parameters[name]
        setattr(module, name, value)
    return module

"""Validated experiment specs: the YAML a user writes for `rnnbench train` / `rnnbench probe`.

Every field carries a `help` text, its unit, and its constraints in the dataclass metadata; `parse`
checks a plain dict against them and raises `SpecError` with one line naming the offending field.
A field whose value names a registered variant (a cell, a task) says which (`names`); `parse`
checks it with the lookups it is given (`rnnbench.resolve` gives the registries'), so that this
module knows no registry.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import SpecError, join, unknown

Lookups = Mapping[str, Callable[[str], object]]  # `names` -> a lookup raising SpecError


def opt(
    default, help: str, choices=None, min=None, gt=None, max=None, lt=None, scalar=False, names=None
):
    """A dataclass field with its documentation and constraints (scalar: a list field that
    also takes one value, as a one-item list; names: the kind of registered variant the value
    names, checked by the lookup `parse` is given for it)."""
    meta = dict(help=help, choices=choices, min=min, gt=gt, max=max, lt=lt, scalar=scalar)
    meta["names"] = names
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=meta)
    return field(default=default, metadata=meta)


OPTIMIZER_NAMES = ("sgd", "adam", "rmsprop")
CLIP_NAMES = ("none", "norm", "value")
TIERS = ("laptop", "full")  # replications: a tier trains its runs and every smaller tier's


@dataclass(frozen=True)
class ModelSpec:
    cell: str = opt(
        "rnn",
        "recurrent cell: a built-in name (rnnbench.cells.CELLS) or the import path "
        "module:Class of your own Cell subclass (docs/custom-cell.md)",
        names="cell",
    )
    nonlinearity: str = opt(
        "tanh",
        "f in h_t = f(W h_{t-1} + U x_t + b), for cells with one (rnn, indrnn)",
        names="nonlinearity",
    )
    init: str = opt(
        "default",
        "weight init scheme (rnnbench.cells.INITS): the recurrent matrix (each gate block of "
        "gated cells), and the input weights, biases and read-out (PyTorch's but for cai and "
        "hs97, which draw every weight as their sources do); identity is the IRNN's",
        names="init",
    )
    rho: float = opt(
        1.0, "spectral radius the init scales W to (orthogonal, gaussian, identity)", gt=0
    )
    hidden_size: int = opt(64, "hidden units H", min=1)
    forget_bias: float = opt(
        1.0, "initial forget-gate bias, for cells with one (Jozefowicz et al. 2015)"
    )
    params: dict = opt(
        {},
        "the cell's own hyperparameters, by name (the command check-cell lists a cell's, with "
        "their defaults and bounds); in a pipeline model block a list value expands into one "
        "variant per value",
    )
    probe_state: str = opt(
        "h",
        "the state whose gradient dE_T/ds_k the gradient probes measure, by the cell's state "
        "names (h, the state read out, for every cell; the LSTM's cell state c): a state's "
        "gradient as the next step's input, so for c only the path through c_{k+1}",
    )


@dataclass(frozen=True)
class TaskSpec:
    name: str = opt("adding", "task (rnnbench.tasks.TASKS)", names="task")
    seq_len: int = opt(
        50,
        "T, time steps of the task (copy adds 2 x recall; digits needs 64; the MNIST tasks "
        "784, the pixel count, which rowmnist reads as 28 rows)",
        min=1,
    )
    alphabet: int = opt(8, "copy: symbols the sequence to recall is drawn from", min=1)
    recall: int = opt(10, "copy: symbols to remember, recalled after T steps", min=1)
    data_dir: str = opt(
        "", "folder of downloaded datasets (MNIST); empty: $RNNBENCH_DATA, else ~/.cache/rnnbench"
    )
    val_size: int = opt(
        512,
        "examples in the fixed validation set, which the curves, stopping and the choice of lr "
        "read (digits uses its 300-image validation split)",
        min=1,
    )
    test_size: int = opt(
        512,
        "examples in the fixed test set, on which every reported result is measured (digits "
        "uses its 297-image test split)",
        min=1,
    )
    solved_loss_fraction: float = opt(
        0.1,
        "adding, adding_symmetric and copy count as solved at loss <= this x baseline loss",
        gt=0,
    )
    solved_accuracy: float = opt(
        0.99,
        "every other task counts as solved at accuracy >= this (adding_hs97, adding_pascanu: "
        "the fraction of sequences within their error tolerance)",
        gt=0,
        max=1,
    )


@dataclass(frozen=True)
class ClipSpec:
    mode: str = opt(
        "none",
        "gradient clipping: none, norm (rescale to threshold; Pascanu et al. 2013), value",
        choices=CLIP_NAMES,
    )
    threshold: float = opt(1.0, "clip threshold (ignored by 'none')", gt=0)

    @property
    def effective_threshold(self) -> float:
        return math.inf if self.mode == "none" else self.threshold

    @property
    def label(self) -> str:
        """'none', 'norm 1', 'value 0.1': the clip_setting column of every table."""
        return "none" if self.mode == "none" else f"{self.mode} {self.threshold:g}"


@dataclass(frozen=True)
class TrainSpec:
    optimizer: str = opt("adam", "optimizer", choices=OPTIMIZER_NAMES)
    lr: list[float] = opt(
        [1e-3],
        "learning rate, or a list of them: an lr sweep, every lr x clip setting x seed trained "
        "side by side; per clip setting the lr with the most seeds solved on the validation set "
        "(then the lowest median validation loss) is marked selected",
        gt=0,
        scalar=True,
    )
    lr_decay_every: int = opt(
        0,
        "multiply the lr by lr_decay every this many steps (step t uses lr x "
        "lr_decay^((t - 1) // lr_decay_every)); 0, a constant lr",
        min=0,
    )
    lr_decay: float = opt(0.5, "the lr's factor at each decay (lr_decay_every)", gt=0, max=1)
    momentum: float = opt(0.9, "momentum (sgd only)", min=0, lt=1)
    rmsprop_decay: float = opt(
        0.99, "decay of RMSprop's running mean of squared gradients (rmsprop only)", gt=0, lt=1
    )
    omega: float = opt(
        0.0,
        "weight alpha of Pascanu et al.'s (2013) regulariser Omega, which keeps the norm of the "
        "gradient through each step of BPTT close to 1 (vanilla RNN only; 0: off)",
        min=0,
    )
    batch_size: int = opt(64, "examples per step per model", min=1)
    steps: int = opt(500, "optimizer steps", min=0)
    log_every: int = opt(50, "steps between logged evaluations (rows of the curves table)", min=1)
    profile_every: int = opt(
        0, "steps between gradient-through-time profiles (0: first and last step only)", min=0
    )
    stop_when_solved: bool = opt(
        False,
        "freeze a model once it meets its task's solved criterion on the validation set (it "
        "leaves the batched compute); the trial ends when every model is solved, diverged or "
        "out of steps",
    )
    check_every: int = opt(
        50, "steps between validation checks of the solved criterion (solved_step)", min=1
    )
    freeze_margin: float = opt(
        1.0,
        "stop_when_solved freezes a model only when it meets the criterion on validation by "
        "this margin (a loss within margin x its bound, an error within margin x the allowed "
        "error), so that a model hugging the threshold trains on; solved_step and the test "
        "criterion are unchanged",
        gt=0,
        max=1,
    )
    seeds: list[int] = opt([0], "one model per lr, seed and clip setting")
    clipping: list[ClipSpec] = opt([ClipSpec()], "clip settings trained side by side")


@dataclass(frozen=True)
class RuntimeSpec:
    threads: int = opt(
        1, "torch intra-op threads per process (in the pipeline keep 1: --cores runs jobs)", min=1
    )
    device: str = opt(
        "cpu", "cpu, cuda or auto (cuda when available)", choices=("cpu", "cuda", "auto")
    )
    dtype: str = opt(
        "float32",
        "training precision, also of training-time probes (E1 probes use float64)",
        choices=("float32", "float64"),
    )
    checkpoint_every: int = opt(
        0,
        "optimizer steps between training checkpoints (0: none); a killed job resumes from its "
        "checkpoint with exactly the numbers of an uninterrupted run",
        min=0,
    )
    max_mem_mb: int = opt(
        16000,
        "refuse, before anything runs, a trial whose estimated memory exceeds this (MB); in "
        "the pipeline the estimate is also the job's mem_mb resource",
        min=1,
    )


@dataclass(frozen=True)
class TrialSpec:
    """One trial: a task x model x T x H, trained for every lr, seed and clip setting at once."""

    task: TaskSpec = opt(TaskSpec(), "the task")
    model: ModelSpec = opt(ModelSpec(), "the model")
    train: TrainSpec = opt(TrainSpec(), "optimisation, seeds and clipping")
    runtime: RuntimeSpec = opt(RuntimeSpec(), "threads, device and precision")

    @property
    def n_models(self) -> int:
        """Models trained side by side: one per lr x clip setting x seed."""
        tr = self.train
        return len(tr.lr) * len(tr.clipping) * len(tr.seeds)


@dataclass(frozen=True)
class ProbeSpec:
    """Gradient-through-time profiles at initialisation (no training)."""

    task: TaskSpec = opt(TaskSpec(), "the task whose last-step loss E_T is differentiated")
    model: ModelSpec = opt(ModelSpec(), "the model")
    seeds: list[int] = opt([0], "one model per seed")
    batch_size: int = opt(64, "examples in the probe batch", min=1)
    runtime: RuntimeSpec = opt(RuntimeSpec(), "threads and device")


def parse(cls, data, where: str = "", names: Lookups | None = None):
    """Build dataclass `cls` from a plain dict, checking keys, types and bounds; a field that
    names a registered variant is checked by names[kind] (unchecked without it)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(where or "spec", f"expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown_keys = sorted(set(map(str, data)) - set(fields))
    if unknown_keys:
        raise SpecError(
            join(where, unknown_keys[0]), f"unknown key (expected one of: {', '.join(fields)})"
        )
    hints = typing.get_type_hints(cls)
    values = {
        name: _value(hints[name], fields[name], data[name], join(where, name), names or {})
        for name in fields
        if name in data
    }
    return cls(**values)


def _value(tp, f: dataclasses.Field, value, where: str, names: Lookups):
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, where, names)
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        if f.metadata.get("scalar") and not isinstance(value, list):
            return [_value(item, f, value, where, names)]
        if not isinstance(value, list) or not value:
            raise SpecError(where, f"expected a non-empty list, got {value!r}")
        items = [_value(item, f, v, f"{where}[{i}]", names) for i, v in enumerate(value)]
        if len({repr(i) if isinstance(i, dict) else i for i in items}) != len(items):
            raise SpecError(where, f"duplicate entries in {value!r}")
        return items
    return _check(_scalar(tp, value, where), f.metadata, where, names)


def _scalar(tp, value, where: str):
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
        dict: isinstance(value, dict),
    }[tp]
    if not ok:
        raise SpecError(where, f"expected {tp.__name__}, got {type(value).__name__} {value!r}")
    if tp is float:
        value = float(value)
        if not math.isfinite(value):
            raise SpecError(where, f"must be finite, got {value!r}")
    return value


def _check(value, meta, where: str, names: Lookups):
    kind = meta.get("names")
    if kind in names:
        try:
            names[kind](value)
        except SpecError as err:  # the lookup knows its registry's key; the field is this one
            raise err.at(where) from None
    if meta.get("choices") and value not in meta["choices"]:
        raise unknown(where, value, meta["choices"])
    for key, test, word in (
        ("min", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("max", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ):
        bound = meta.get(key)
        if bound is not None and not test(value, bound):
            raise SpecError(where, f"must be {word} {bound}, got {value!r}")
    return value


def read_yaml(path: str | Path):
    """A YAML file's data; a missing file or bad YAML is a one-line SpecError naming the file
    (and the line)."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(str(path), "file not found") from None
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        at = f" (line {line + 1})" if line is not None else ""
        raise SpecError(str(path), f"not valid YAML{at}") from None


def to_dict(spec) -> dict:
    """Plain nested dict of a spec (for YAML/JSON records)."""
    return dataclasses.asdict(spec)


def leaves(cls, prefix: str = "") -> list[tuple[str, dataclasses.Field, object]]:
    """(key, field, default) for every leaf field, nested keys dotted."""
    rows = []
    for f in dataclasses.fields(cls):
        key = join(prefix, f.name)
        default = f.default_factory() if f.default is dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            rows += leaves(type(default), key)
        else:
            rows.append((key, f, default))
    return rows


def describe(cls, prefix: str = "") -> list[tuple[str, str, object]]:
    """(key, help, default) for every field, nested keys dotted: documentation for humans."""
    return [(key, f.metadata["help"], default) for key, f, default in leaves(cls, prefix)]

"""The kinds of pipeline config section an experiment declares (`rnnbench.experiments`): a probe
grid or a training grid, each key with its description, default and constraints (`opt`).

A grid is tasks x seq_len x hidden_size x model variants; a model block may give a list for any
field of `ModelSpec` or any of the cell's hyperparameters (`params`), which expands into one
variant per value (`expand_models` checks every variant). A training grid shares one `task`
setting and one `train` block.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from . import cells, resolve
from .errors import SpecError
from .spec import ModelSpec, TaskSpec, TrainSpec, opt

MODEL_BLOCK_NAME = opt(
    None,
    "label of the variant in tables and figures (a block with a name must give one variant); "
    "without one it is built from the fields, e.g. rnn-tanh-orthogonal-rho1.1",
)
MODEL_BLOCK_FIELDS = [f for f in dataclasses.fields(ModelSpec) if f.name != "hidden_size"]


def _without(cls, *names: str, name: str):
    """cls's fields other than names, as a dataclass of their own (same metadata)."""
    keep = [f for f in dataclasses.fields(cls) if f.name not in names]
    return dataclasses.make_dataclass(
        name,
        [(f.name, f.type, dataclasses.field(default=f.default, metadata=f.metadata)) for f in keep],
        frozen=True,
    )


# A training grid's `task`: TaskSpec's settings other than the grid's own axes.
TaskSettings = _without(TaskSpec, "name", "seq_len", name="TaskSettings")


@dataclass(frozen=True)
class GridAxes:
    tasks: list[str] = opt(
        ["adding"],
        "tasks of the grid (one axis): names in rnnbench.tasks.TASKS, checked before any job",
        names="task",
    )
    seq_len: list[int] = opt([50], "T, time steps of the task; one axis of the grid", min=1)
    hidden_size: list[int] = opt([32], "H, hidden units; one axis of the grid", min=1)
    models: list[dict] = opt(
        [{"cell": "rnn"}],
        "model variants: blocks of model keys (`rnnbench keys train`: model.*, hidden_size "
        "aside) and an optional name; a list value in a block expands into one variant per "
        "value (and combinations of several lists)",
    )


@dataclass(frozen=True)
class ProbeSection(GridAxes):
    """A probe grid: each trial's models are probed at initialisation, no training."""

    seeds: list[int] = opt([0, 1, 2, 3, 4], "one probed model per seed (recorded in every table)")
    batch_size: int = opt(
        64, "examples in the probe batch (the profile is of their mean gradient)", min=1
    )


@dataclass(frozen=True)
class TrainSection(GridAxes):
    """A training grid: each trial trains every lr x clip setting x seed as one ensemble."""

    task: TaskSettings = opt(TaskSettings(), "task settings shared by every trial of the grid")
    train: TrainSpec = opt(
        TrainSpec(), "optimisation, seeds and clip settings shared by every trial of the grid"
    )
    ladder: bool = opt(
        False,
        "horizon ladder: a variant's trial at T is not trained (its runs are written with status "
        "skipped) when every seed failed at its selected lr at the next shorter T of the grid",
    )


def expand_models(blocks: list[dict], where: str) -> list[tuple[str, dict]]:
    """Model blocks with list-valued fields -> (variant label, model fields) per combination."""
    return [(label, fields) for _, label, fields, _ in variants(blocks, where)]


def variants(blocks: list[dict], where: str) -> list[tuple[str, str, dict, ModelSpec]]:
    """Every variant of the model blocks: (its block's key, e.g. <experiment>.models[2], its label,
    its model fields as given, its checked ModelSpec with hidden_size 1)."""
    out = []
    for i, block in enumerate(blocks):
        block, key = dict(block), f"{where}[{i}]"
        name = block.pop("name", None)
        params = block.pop("params", {})
        if not isinstance(params, dict):
            raise SpecError(f"{key}.params", f"expected a mapping, got {type(params).__name__}")
        axes = {k: v if isinstance(v, list) else [v] for k, v in block.items()}
        axes |= {("params", k): v if isinstance(v, list) else [v] for k, v in params.items()}
        combos = [_fields(axes, values) for values in itertools.product(*axes.values())]
        if name is not None and len(combos) > 1:
            raise SpecError(
                f"{key}.name",
                f"a named block must give one variant, it expands to "
                f"{len(combos)} (give single values or drop the name)",
            )
        for fields in combos:
            model = resolve.spec(ModelSpec, {**fields, "hidden_size": 1}, key)
            out.append((key, name or variant_label(model), fields, model))
    labels = [label for _, label, _, _ in out]
    duplicate = next((x for x in labels if labels.count(x) > 1), None)
    if duplicate:
        raise SpecError(where, f"two model variants are both called {duplicate!r}")
    return out


def _fields(axes: dict, values) -> dict:
    """One combination of a block's axes as model fields (a hyperparameter under params)."""
    out: dict = {}
    for key, value in zip(axes, values, strict=True):
        if isinstance(key, tuple):
            out.setdefault("params", {})[key[1]] = value
        else:
            out[key] = value
    return out


def variant_label(model: ModelSpec) -> str:
    """A readable label from the fields that matter to the cell, e.g. rnn-tanh-orthogonal-rho1.1,
    then each hyperparameter of the cell that is not at its default (cornn-dt0.01) and the
    probed state when it is not h (lstm-default-fb1-state_c)."""
    cell = cells.get(model.cell)
    parts = [cell.name]
    if "nonlinearity" in cell.uses:
        parts.append(model.nonlinearity)
    if "init" in cell.uses:
        parts.append(model.init)
    if "rho" in cell.uses and cells.INITS[model.init].scales_rho:
        parts.append(f"rho{model.rho:g}")
    if "forget_bias" in cell.uses:
        parts.append(f"fb{model.forget_bias:g}")
    given, defaults = cell.hparams(model), cell.Params()
    for f in dataclasses.fields(defaults):
        value = getattr(given, f.name)
        if value != getattr(defaults, f.name):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            parts.append(f"{f.name}{value:g}" if number else f"{f.name}_{value}")
    if model.probe_state != cell.state_names[0]:
        parts.append(f"state_{model.probe_state}")
    return "-".join(parts)

"""Specs with their names resolved: `rnnbench.spec.parse` given the registries' lookups (a cell
or task name that is not registered is a one-line error naming its key), and the rules across
fields that need a registered variant's facts. Every reader of a user's spec goes through here."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from . import cells, tasks
from .errors import SpecError, join, unknown
from .spec import ModelSpec, TrialSpec, parse, read_yaml, to_dict

# What a field that names a registered variant may name (`opt(names=...)`): the registries.
CHOICES = {
    "cell": cells.CELLS,
    "task": tasks.TASKS,
    "nonlinearity": cells.NONLINEARITIES,
    "init": cells.INITS,
}


def _lookup(kind: str):
    table = CHOICES[kind]
    if hasattr(table, "get") and hasattr(table, "key"):  # a Registry: its own message, plugins
        return table.get

    def check(value: str):
        if value not in table:
            raise unknown(kind, value, table)
        return table[value]

    return check


LOOKUPS = {kind: _lookup(kind) for kind in CHOICES}


def spec(cls, data, where: str = ""):
    """A TrialSpec, ProbeSpec or any spec dataclass from data, every name resolved, the cell's
    hyperparameters checked and filled with their defaults (`model.params`)."""
    out = parse(cls, data, where, LOOKUPS)
    if isinstance(out, ModelSpec):
        return model(out, where)
    if isinstance(getattr(out, "model", None), ModelSpec):
        out = dataclasses.replace(out, model=model(out.model, join(where, "model")))
    if isinstance(out, TrialSpec):
        _check_trial(out, where)
    return out


def model(m: ModelSpec, where: str = "model") -> ModelSpec:
    """m with its cell's hyperparameters checked and every default filled, and its init and
    probe_state checked against the cell's; a bad one is one line naming the key and the cell."""
    cell = cells.get(m.cell)
    names = [f.name for f in dataclasses.fields(cell.Params)]
    bad = next((k for k in map(str, m.params) if k not in names), None)
    if bad is not None:
        has = f"it has: {', '.join(names)}" if names else "it has none"
        raise SpecError(
            join(where, f"params.{bad}"), f"unknown hyperparameter of the cell {m.cell!r} ({has})"
        )
    try:
        params = to_dict(parse(cell.Params, m.params, join(where, "params")))
    except SpecError as err:
        raise SpecError(
            err.key, f"{err.reason} (a hyperparameter of the cell {m.cell!r})"
        ) from None
    if cell.inits is not None and m.init not in cell.inits:
        raise SpecError(
            join(where, "init"),
            f"the cell {m.cell!r} has no init {m.init!r} (its inits: {', '.join(cell.inits)})",
        )
    if m.probe_state not in cell.state_names:
        raise SpecError(
            join(where, "probe_state"),
            f"the cell {m.cell!r} has no state {m.probe_state!r} "
            f"(its states: {', '.join(cell.state_names)})",
        )
    return dataclasses.replace(m, params=params)


def load(cls, path: str | Path):
    """A spec read from a YAML file (a missing file or bad YAML: one line naming it)."""
    return spec(cls, read_yaml(path))


def _check_trial(s: TrialSpec, where: str) -> None:
    cell = cells.get(s.model.cell)
    if s.train.omega and (cell.omega is None or cell.backward is None):  # needs every dLoss/dh_k
        raise SpecError(
            join(where, "train.omega"),
            f"the cell {s.model.cell!r} has no regulariser Omega with a hand-written backward "
            "(Pascanu et al. 2013 define it for the vanilla RNN)",
        )

"""Specs with their names resolved: `rnnbench.spec.parse` given the registries' lookups (a cell
or task name that is not registered is a one-line error naming its key), and the rules across
fields that need a registered variant's facts. Every reader of a user's spec goes through here."""

from __future__ import annotations

from pathlib import Path

from . import cells, tasks
from .errors import SpecError, join, unknown
from .spec import TrialSpec, parse, read_yaml

# What a field that names a registered variant may name (`opt(names=...)`): the registries.
CHOICES = {
    "cell": cells.CELLS,
    "task": tasks.TASKS,
    "nonlinearity": cells.NONLINEARITIES,
    "init": cells.MATRIX_INITS,
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
    """A TrialSpec, ProbeSpec or any spec dataclass from data, every name resolved."""
    out = parse(cls, data, where, LOOKUPS)
    if isinstance(out, TrialSpec):
        _check_trial(out, where)
    return out


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

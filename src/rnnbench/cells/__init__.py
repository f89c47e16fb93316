"""The recurrent cells, chosen by name: `CELLS` holds the built-ins (one module each), and
`get` also loads a user's cell by import path ("mypackage.cells:MyCell", see docs/custom-cell.md).
"""

from __future__ import annotations

import importlib
from functools import cache

from ..spec import SpecError
from .base import MATRIX_INITS, NONLINEARITIES, Cell, uniform
from .gru import GRU
from .indrnn import IndRNN
from .lstm import LSTM
from .rnn import RNN

CELLS: dict[str, Cell] = {c.name: c for c in (RNN(), LSTM(), GRU(), IndRNN())}

__all__ = ["CELLS", "MATRIX_INITS", "NONLINEARITIES", "Cell", "get", "uniform"]


@cache
def get(name: str) -> Cell:
    """The built-in cell `name`, or the Cell subclass at import path "module:Class"; any other
    name is a one-line SpecError naming what is wrong."""
    if name in CELLS:
        return CELLS[name]
    if ":" not in name:
        raise SpecError(
            f"model.cell: unknown value {name!r} (expected one of: {', '.join(CELLS)}, "
            "or an import path module:Class)"
        )
    module, _, attr = name.partition(":")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except Exception as err:  # any error of the user's module: one line, not its traceback
        raise SpecError(f"model.cell: cannot import {name!r} ({_line(err)})") from None
    if not (isinstance(obj, type) and issubclass(obj, Cell)):
        raise SpecError(f"model.cell: {name!r} is not a subclass of rnnbench.cells.Cell")
    missing = [m for m in ("init_recurrent", "step") if getattr(obj, m) is getattr(Cell, m)] + [
        a for a in ("name", "label") if not isinstance(getattr(obj, a, None), str)
    ]
    if missing:
        raise SpecError(f"model.cell: {name!r} does not define {', '.join(missing)}")
    try:
        return obj()
    except Exception as err:
        raise SpecError(f"model.cell: {name!r}() failed ({_line(err)})") from None


def _line(err: Exception) -> str:
    """An exception as one line: its type and the first line of its message."""
    return f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"

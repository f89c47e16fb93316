"""The recurrent cells, chosen by name: `CELLS` holds the built-ins (one module each) and also
loads a user's cell by import path ("mypackage.cells:MyCell", see docs/custom-cell.md)."""

from __future__ import annotations

from ..errors import SpecError
from ..registry import Registry, one_line
from .base import NONLINEARITIES, Cell, InitSpec, MatrixCell, NoParams, load_baseline, param
from .gru import GRU
from .indrnn import IndRNN
from .indrnn2 import IndRNN2
from .inits import INITS, MATRIX_INITS, Init, normal, uniform
from .lstm import LSTM
from .lstm97 import LSTM97
from .rnn import RNN

__all__ = [
    "CELLS",
    "INITS",
    "MATRIX_INITS",
    "NONLINEARITIES",
    "Cell",
    "Init",
    "InitSpec",
    "MatrixCell",
    "NoParams",
    "get",
    "load_baseline",
    "normal",
    "param",
    "uniform",
]


def _plugin(obj, path: str) -> Cell:
    """The cell at import path `path`: a Cell subclass that defines what every cell defines."""
    if not (isinstance(obj, type) and issubclass(obj, Cell)):
        raise SpecError(CELLS.key, f"{path!r} is not a subclass of rnnbench.cells.Cell")
    missing = [m for m in ("init_recurrent", "step") if getattr(obj, m) is getattr(Cell, m)] + [
        a for a in ("name", "label") if not isinstance(getattr(obj, a, None), str)
    ]
    if missing:
        raise SpecError(CELLS.key, f"{path!r} does not define {', '.join(missing)}")
    try:
        return obj()
    except Exception as err:
        raise SpecError(CELLS.key, f"{path!r}() failed ({one_line(err)})") from None


BUILT_IN = (RNN(), LSTM(), GRU(), IndRNN(), IndRNN2(), LSTM97())
CELLS: Registry[Cell] = Registry("model.cell", {c.name: c for c in BUILT_IN}, _plugin, plugins=True)
get = CELLS.get  # the built-in cell `name`, or the Cell subclass at import path "module:Class"

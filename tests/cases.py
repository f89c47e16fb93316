"""Test parametrisations derived from the cell registry: every cell, and every nonlinearity of
a cell that has one."""

from rnnbench.cells import CELLS, NONLINEARITIES
from rnnbench.cells.base import MatrixCell


def _nonlinearities(cell) -> list[str]:
    return list(NONLINEARITIES) if "nonlinearity" in cell.uses else ["tanh"]


CASES = [(name, f) for name, cell in CELLS.items() for f in _nonlinearities(cell)]
HAND_WRITTEN = [case for case in CASES if CELLS[case[0]].backward is not None]
COMPILED = [case for case in HAND_WRITTEN if CELLS[case[0]].compiled_loops]  # loops in kernels
ATEN_LOOPS = [case for case in COMPILED if isinstance(CELLS[case[0]], MatrixCell)]  # their
# compiled loops also run with ATen calls per step (kernels.aten_loops), as the Python loops do

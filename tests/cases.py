"""Test parametrisations derived from the cell registry: every cell, and every nonlinearity of
a cell that has one."""

from rnnbench.cells import CELLS, NONLINEARITIES


def _nonlinearities(cell) -> list[str]:
    return list(NONLINEARITIES) if "nonlinearity" in cell.uses else ["tanh"]


CASES = [(name, f) for name, cell in CELLS.items() for f in _nonlinearities(cell)]
HAND_WRITTEN = [case for case in CASES if CELLS[case[0]].backward is not None]  # compiled too

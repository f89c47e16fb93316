"""Which rows of a table a claim, a replication target, a figure or a report section reads: the
rows of one experiment (`of_experiment`), and rows by condition (`select`, over a `Where`:
column -> value, list of values, (operator, value) or `LAST`), said in words by `describe`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .numbers import fmt

Where = Mapping[str, object]  # column -> value, list of values, (operator, value) or LAST
OPERATORS = {
    "<": pd.Series.lt,
    "<=": pd.Series.le,
    ">": pd.Series.gt,
    ">=": pd.Series.ge,
    "!=": pd.Series.ne,
    "~=": lambda column, value: pd.Series(np.isclose(column.astype(float), value), column.index),
}
LAST = "<the population's largest value>"  # a condition: e.g. the last profiled step


class Missing(Exception):
    """The tables lack the rows a measure needs (e.g. the experiment is not in this grid)."""


def select(table: pd.DataFrame, where: Where) -> pd.DataFrame:
    """The rows of table matching every condition of where (Missing if none)."""
    out = table
    for column, cond in where.items():
        if out.empty:
            break
        if column not in out:
            raise Missing(f"no column {column} in this table")
        if cond is LAST:
            out = out[out[column] == out[column].max()]
        elif isinstance(cond, tuple):
            op, value = cond
            out = out[OPERATORS[op](out[column], value)]
        else:
            out = out[out[column].isin(cond if isinstance(cond, list) else [cond])]
    if out.empty:
        raise Missing(f"no rows with {describe(where)} in this grid")
    return out


def describe(where: Where) -> str:
    """where in words: 'cell = rnn, rho > 1'."""
    parts = []
    for column, cond in where.items():
        if cond is LAST:
            parts.append(f"the last {column}")
        elif isinstance(cond, tuple):
            parts.append(f"{column} {cond[0]} {fmt(cond[1])}".replace("~=", "="))
        elif isinstance(cond, list):
            parts.append(f"{column} in {{{', '.join(map(fmt, cond))}}}")
        else:
            parts.append(f"{column} = {fmt(cond)}")
    return ", ".join(parts) or "every row"


def of_experiment(table: pd.DataFrame, experiment: str) -> pd.DataFrame:
    """The rows of one experiment, where the table has an experiment column (else all rows)."""
    return table[table["experiment"] == experiment] if "experiment" in table else table


def selected(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs at their setting's selected learning rate (the runs table's `selected`)."""
    return runs[runs["selected"].astype(bool)]

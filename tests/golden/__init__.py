"""The .test pipeline's tables pinned: golden copies in tests/golden/<table>.csv, and the check.

Every table of results/tables (the six of aggregate.TABLES and the claims scorecard, verdicts
included), every column but the timing ones (tests.workflow.TIMING_COLUMNS), is kept here as CSV,
floats at 12 significant digits. tests/test_golden.py compares the shared .test run (conftest's
`test_run`) with these files, column by column, row by row (the pipeline writes its rows in a
fixed order):

- exact: every column that is not a float (ids, seeds, steps, counts, statuses, verdicts, flags)
  and the float columns that echo the config (spec fields and CONFIG_ECHOES: lr, rho, ...);
- MEASURED (rtol 1e-4, atol 1e-12): every other float (losses, metrics, gradient norms, slopes,
  rates, intervals, effects). Only these differed between CPUs: the .test run on an AMD EPYC
  (Zen 4, torch 2.13.0+cpu) once with AVX-512 and once as an AVX2-only CPU (ATEN_CPU_CAPABILITY=
  avx2, MKL_ENABLE_INSTRUCTIONS=AVX2, kernels built for AVX2) differed by at most 1.25e-5
  relative (curves.grad_norm; losses 6e-8, gradient profiles 3e-15), every id, status, step,
  count and verdict equal; rtol is 8 times that, far below what a real change moves (a changed
  init seed moves losses by 1e-2 to 1 relative and flips statuses and a verdict). atol covers
  values that are zero up to rounding (a slope's distance from log10(rho), about 1e-16);
- claims.measured, the scorecard's text: exact once its numbers are masked, and each number within
  MEASURED or one unit of its last printed digit (the text rounds what the columns hold).

A number that changes on purpose is a deliberate update of these files in the same commit:

    python -m tests.golden --update              # runs the .test pipeline in a scratch copy
    python -m tests.golden --update --run DIR    # or reads a finished .test run in DIR
    python -m tests.golden [--run DIR]           # only compare, printing the differences

then `git diff tests/golden` shows which numbers moved.
"""

import argparse
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rnnbench.aggregate import TABLES as AGGREGATE_TABLES
from rnnbench.aggregate import spec_fields
from tests.workflow import TIMING_COLUMNS, run_test_config

GOLDEN = Path(__file__).resolve().parent
TABLES = (*AGGREGATE_TABLES, "claims")
FLOAT_FORMAT = "%.12g"  # 12 significant digits: far below the tolerances, and small files
SHOWN = 5  # differing rows printed per column


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


MEASURED = Tolerance(rtol=1e-4, atol=1e-12)
# Float columns that echo the config besides the spec fields (aggregate.spec_fields): an lr sweep's
# member, its clipping threshold, a replication target's published value and band.
CONFIG_ECHOES = {"lr", "clip_threshold", "published", "band_low", "band_high"}
TEXT_WITH_NUMBERS = {("claims", "measured")}
NUMBER = re.compile(r"[-+]?\d+(?:\.(\d+))?(?:e([-+]?\d+))?(%)?")


def measured(column: str, df: pd.DataFrame) -> bool:
    """Whether a column holds measurements (compared within MEASURED), not exact values: a float
    column (as the pipeline wrote it, so not an integer column with gaps) that echoes no config."""
    echo = column in CONFIG_ECHOES or column in spec_fields(df)
    return pd.api.types.is_float_dtype(df[column]) and not echo


def normalized(df: pd.DataFrame) -> pd.DataFrame:
    """df without timing columns, its floats rounded as in the golden CSV, other dtypes kept."""
    df = df.drop(columns=[c for c in TIMING_COLUMNS if c in df])
    back = pd.read_csv(io.StringIO(df.to_csv(index=False, float_format=FLOAT_FORMAT)))
    for column in df:
        if not pd.api.types.is_float_dtype(df[column]):
            back[column] = back[column].astype(df[column].dtype)
    return back


def run_tables(run: Path) -> dict[str, pd.DataFrame]:
    """The tables of a finished run (its results/tables/*.parquet), normalized."""
    return {n: normalized(pd.read_parquet(run / f"results/tables/{n}.parquet")) for n in TABLES}


def golden_tables(folder: Path = GOLDEN) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(folder / f"{name}.csv") for name in TABLES}


def write(tables: dict[str, pd.DataFrame], folder: Path = GOLDEN) -> None:
    for name in TABLES:
        tables[name].to_csv(folder / f"{name}.csv", index=False, float_format=FLOAT_FORMAT)


def _same(a, b) -> bool:
    """Equal values, or both missing (NaN, None or pd.NA)."""
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    return bool(a == b)


def _unit(match: re.Match) -> float:
    """One unit of a rounded number's last printed digit ('0.167' -> 0.001, '1.2e-16' -> 1e-17,
    '51%' -> 1); 0 for a plain integer, a count ('4 of 4'), which must match exactly."""
    fraction, exponent, percent = match.group(1, 2, 3)
    if fraction is None and exponent is None and percent is None:
        return 0.0
    return 10.0 ** (int(exponent or 0) - len(fraction or ""))


def texts_match(got: str, want: str, tol: Tolerance = MEASURED) -> bool:
    """Equal once numbers are masked, each number within tol or one unit of its last digit."""
    if not (isinstance(got, str) and isinstance(want, str)):
        return _same(got, want)
    if NUMBER.sub("#", got) != NUMBER.sub("#", want):
        return False
    for g, w in zip(NUMBER.finditer(got), NUMBER.finditer(want), strict=True):
        a, b = float(g.group(0).rstrip("%")), float(w.group(0).rstrip("%"))
        if abs(a - b) > tol.atol + tol.rtol * abs(b) + max(_unit(g), _unit(w)) * (1 + 1e-9):
            return False
    return True


def _differing(table: str, column: str, got: pd.DataFrame, want: pd.Series) -> np.ndarray:
    """Which rows of one column differ beyond its tolerance (got: the run's table, whose dtypes
    say which columns are measurements; want: the golden column, as its CSV reads back)."""
    g = got[column]
    if (table, column) in TEXT_WITH_NUMBERS:
        same = [texts_match(a, b) for a, b in zip(g, want, strict=True)]
    elif measured(column, got):
        w = pd.to_numeric(want, errors="coerce").to_numpy(dtype=float)
        tol = MEASURED
        return ~np.isclose(g.to_numpy(dtype=float), w, rtol=tol.rtol, atol=tol.atol, equal_nan=True)
    else:  # exact; an integer column with gaps reads back from CSV as floats: 2 == 2.0
        same = [_same(a, b) for a, b in zip(g.astype(object), want.astype(object), strict=True)]
    return ~np.array(same, dtype=bool)


def _shown(value) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _row(df: pd.DataFrame, i: int) -> str:
    """A row named by its identifying columns, for messages."""
    keys = ("experiment", "cell_id", "variant", "seq_len", "lr", "seed", "clip", "step")
    named = [f"{k}={df[k].iat[i]}" for k in (*keys, "distance", "target", "id") if k in df]
    return f"row {i} ({', '.join(named)})"


def differences(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> list[str]:
    """Every difference between two sets of tables beyond the tolerances, one line each."""
    out = []
    for name in TABLES:
        g, w = got[name], want[name]
        if list(g.columns) != list(w.columns):
            added, removed = sorted(set(g) - set(w)), sorted(set(w) - set(g))
            what = f"new {added}, gone {removed}" if added or removed else "in another order"
            out.append(f"{name}: the columns differ ({what})")
            continue
        if len(g) != len(w):
            out.append(f"{name}: {len(g)} rows, the golden table has {len(w)}")
            continue
        for column in w.columns:
            rows = np.flatnonzero(_differing(name, column, g, w[column]))
            for i in rows[:SHOWN]:
                was, now = _shown(w[column].iat[i]), _shown(g[column].iat[i])
                out.append(f"{name}.{column}: {was} -> {now} at {_row(w, i)}")
            if len(rows) > SHOWN:
                out.append(f"{name}.{column}: and {len(rows) - SHOWN} more rows")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.golden",
        description="Compare the .test pipeline's tables with tests/golden/, or rewrite them.",
    )
    parser.add_argument("--update", action="store_true", help="rewrite tests/golden/*.csv")
    parser.add_argument("--run", type=Path, help="a finished .test run (default: run one now)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rnnbench-golden-") as scratch:
        run = args.run or run_test_config(Path(scratch) / "run")
        got = run_tables(run)
    if args.update:
        write(got)
        print(f"wrote {len(got)} tables to {GOLDEN} from {run}; commit them with the change")
        return 0
    found = differences(got, golden_tables())
    print("\n".join(found) or "the tables equal the golden ones within the tolerances")
    return 1 if found else 0

"""The .test pipeline's tables equal the golden ones in tests/golden/ within the stated tolerances
(exact for ids, counts, statuses, verdicts and config echoes; rtol 1e-4, atol 1e-12 for measured
floats: why, in tests/golden/__init__.py), and the comparison catches what it must: a number
beyond its tolerance, a changed status or verdict, a row or a column more or fewer."""

import pytest

from rnnbench.experiments import claims as all_claims
from tests import golden
from tests.workflow import TIMING_COLUMNS

UPDATE = "python -m tests.golden --update"


@pytest.mark.slow
def test_the_test_run_tables_equal_the_golden_ones(test_run):
    found = golden.differences(golden.run_tables(test_run), golden.golden_tables())
    assert not found, (
        f"{len(found)} differences from tests/golden (a number changed on purpose: run `{UPDATE}` "
        "and commit tests/golden with the change):\n" + "\n".join(found)
    )


@pytest.fixture(scope="module")
def tables():
    return golden.golden_tables()


def changed(tables, table, column, row, value):
    """The tables with one value of one table replaced (the others shared, not copied)."""
    out = {**tables, table: tables[table].copy()}
    out[table].loc[row, column] = value
    return out


def test_the_golden_files_hold_every_table_and_verdict_and_no_timing(tables):
    assert set(tables) == {*golden.TABLES} and "claims" in tables
    assert sum((golden.GOLDEN / f"{n}.csv").stat().st_size for n in tables) < 1_000_000
    for name, df in tables.items():
        assert len(df) and not set(TIMING_COLUMNS) & set(df), name
    assert list(tables["claims"]["id"]) == [c.id for c in all_claims()]
    for name, column in [("claims", "verdict"), ("replications", "verdict"), ("runs", "status")]:
        assert tables[name][column].notna().all()
    assert golden.differences(tables, tables) == []


@pytest.mark.parametrize(
    ("table", "column"),
    [("runs", "final_loss"), ("curves", "grad_norm"), ("horizons", "success_high")],
)
def test_a_measurement_differs_only_beyond_its_tolerance(tables, table, column):
    row = tables[table][column].abs().idxmax()  # a non-zero value
    value = tables[table].loc[row, column]
    within = changed(tables, table, column, row, value * (1 + golden.MEASURED.rtol / 2))
    assert golden.differences(within, tables) == []
    beyond = changed(tables, table, column, row, value * (1 + golden.MEASURED.rtol * 2))
    (line,) = golden.differences(beyond, tables)
    assert line.startswith(f"{table}.{column}: ") and f"row {row} " in line


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("runs", "status", "solved"),  # a learning outcome
        ("runs", "seed", 7),
        ("runs", "lr", 0.0100000001),  # a config echo: exact
        ("claims", "verdict", "reproduced"),
        ("replications", "verdict", "agrees"),
        ("horizons", "n_solved", 3),
    ],
)
def test_exact_columns_admit_no_change(tables, table, column, value):
    row = tables[table].index[tables[table][column] != value][0]
    (line,) = golden.differences(changed(tables, table, column, row, value), tables)
    assert line.startswith(f"{table}.{column}: ")


def test_a_row_or_column_more_or_fewer_is_a_difference(tables):
    fewer = {**tables, "curves": tables["curves"].iloc[:-1]}
    assert golden.differences(fewer, tables) == [
        f"curves: {len(tables['curves']) - 1} rows, the golden table has {len(tables['curves'])}"
    ]
    more = {**tables, "runs": tables["runs"].assign(new_column=1.0)}
    assert golden.differences(more, tables) == [
        "runs: the columns differ (new ['new_column'], gone [])"
    ]
    moved = {**tables, "claims": tables["claims"][list(reversed(tables["claims"].columns))]}
    assert golden.differences(moved, tables) == ["claims: the columns differ (in another order)"]


@pytest.mark.parametrize(
    ("got", "want", "match"),
    [
        ("+0.168 [-0.295, +0.558]", "+0.167 [-0.295, +0.558]", True),  # one unit: rounding
        ("+0.169 [-0.295, +0.558]", "+0.167 [-0.295, +0.558]", False),
        ("6.0e-17 [0.0e+00, 1.1e-16]", "6.2e-17 [0.0e+00, 1.2e-16]", True),  # zero up to rounding
        ("4 of 4 diverged: 100% [52%, 100%]", "4 of 4 diverged: 100% [51%, 100%]", True),
        ("3 of 4 diverged: 75% [30%, 95%]", "4 of 4 diverged: 75% [30%, 95%]", False),  # a count
        ("2/6 solved at the shortest T", "2/6 solved at the longest T", False),
    ],
)
def test_the_scorecard_text_matches_up_to_the_rounding_of_its_numbers(got, want, match):
    assert golden.texts_match(got, want) is match

"""What a finished pipeline run found, in a few lines for the console: the claims' verdict
counts, each claim not reproduced or inconclusive in one line, the replications' counts, and
where the report is. The Snakefile prints it when a run succeeds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .errors import CorruptFileError
from .tables import read_table
from .verdicts import CLAIM_VERDICTS, REPRODUCED, TARGET_VERDICTS


def _counts(column: pd.Series, order) -> str:
    counts = column.value_counts()
    return ", ".join(f"{counts.get(v, 0)} {v}" for v in order if counts.get(v, 0))


def lines(tables: Path = Path("results/tables"), report: Path = Path("report")) -> list[str]:
    """The summary of the run whose tables and report are there ([] before any report)."""
    try:
        claims = read_table(tables / "claims.parquet")
    except CorruptFileError:
        return []
    out = [f"rnnbench: {len(claims)} claims: {_counts(claims['verdict'], CLAIM_VERDICTS)}"]
    for c in claims[claims["verdict"] != REPRODUCED].itertuples():
        out.append(f"  {c.verdict}: {c.id}: {c.measured}")
    try:
        rep = read_table(tables / "replications.parquet")
    except CorruptFileError:
        rep = pd.DataFrame()
    if len(rep):
        out.append(
            f"rnnbench: {len(rep)} replication targets: {_counts(rep['verdict'], TARGET_VERDICTS)}"
        )
    out.append(f"rnnbench: report: {report / 'report.html'} ({report / 'report.md'})")
    return out

"""The console summary of a finished run: verdict counts, each claim not reproduced in one line,
the replications' counts and the report's path."""

import pandas as pd

from rnnbench import summary
from rnnbench.tables import write_table


def test_the_summary_counts_verdicts_and_lists_what_was_not_reproduced(tmp_path):
    claims = pd.DataFrame(
        dict(id=["a", "b", "c"], verdict=["reproduced", "not reproduced", "inconclusive"],
             measured=["x", "1 of 9 diverged", "n = 1"])
    )  # fmt: skip
    write_table(claims, tmp_path / "claims", {})
    reps = pd.DataFrame(dict(verdict=["agrees", "agrees", "not run"]))
    write_table(reps, tmp_path / "replications", {})
    out = summary.lines(tmp_path, tmp_path / "report")
    assert out[0] == "rnnbench: 3 claims: 1 reproduced, 1 not reproduced, 1 inconclusive"
    assert out[1:3] == ["  not reproduced: b: 1 of 9 diverged", "  inconclusive: c: n = 1"]
    assert out[3] == "rnnbench: 3 replication targets: 2 agrees, 1 not run"
    assert out[4].endswith("report/report.html (" + str(tmp_path / "report/report.md") + ")")


def test_no_summary_before_a_report(tmp_path):
    assert summary.lines(tmp_path) == []

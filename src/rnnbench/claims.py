"""The claims scorecard: each claim of the papers the benchmark rests on, as a declarative entry
(`Claim`: its source and place, the table and rows it reads, the measure, the claimed region),
tested on the pipeline's tables.

The experiment that measures a claim declares it (`rnnbench.experiments`); `scorecard` measures
every claim of the configured experiments (`rnnbench.measures`) and decides it by the claims'
rule (`rnnbench.verdicts.claim_verdict`): reproduced iff the 95% interval lies strictly inside
the claimed region, not reproduced iff strictly outside it, inconclusive otherwise (an interval
touching or straddling the region's edge, a tie, a claim whose rows are not in the grid; the
reason is then the measured text). Each claim carries the report's sentence for each verdict,
so that no conclusion is typed whatever the data say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from . import aggregate
from .measures import MEASURES, Measured, Sample
from .numbers import interval
from .selection import Missing, Where, describe, of_experiment, select
from .verdicts import CLAIM_VERDICTS, INCONCLUSIVE, Region, claim_verdict

COLUMNS = [
    "id",
    "claim",
    "source",
    "measurement",
    "test",
    "n",
    "effect",
    "low",
    "high",
    "expected",
    "measured",
    "verdict",
    "n_to_decide",
]


@dataclass(frozen=True)
class Claim:
    """A claim, stated as its source states it, and how the tables test it."""

    id: str
    text: str  # the claim in the project's words
    source: str  # who made it, and where (section, figure, table)
    table: str  # the table its rows come from (results/tables)
    where: Where  # its population's rows (rnnbench.selection.select)
    measure: str  # a name in rnnbench.measures.MEASURES
    effect: str  # what the measured effect is, in words
    claimed: Region  # the region the source claims the effect lies in
    versus: Where | None = None  # the comparison's population: `where` with these changes
    pair_on: tuple[str, ...] = ()  # the settings a comparison pairs on
    reduce: str = "min"  # several settings: the smallest ("min") or largest effect decides
    labels: tuple[str, str] = ("a", "b")  # the two populations' names in the measured text
    by: tuple[str, ...] = ()  # measured group by group (e.g. per nonlinearity), then `reduce`
    controlled: bool = False  # rests on its tasks' controls (aggregate.controls): failed, it is
    # inconclusive for that reason
    sentences: Mapping[str, str] = field(default_factory=dict)  # verdict -> the report's words
    experiment: str = ""  # set by the experiment that declares it

    def populations(self, tables: Mapping[str, pd.DataFrame]) -> Sample:
        """The claim's rows: its experiment's (at the selected lr, for training tables)."""
        rows = of_experiment(tables[self.table], self.experiment)
        if self.table in ("runs",):
            rows = rows[rows["selected"].astype(bool)]
        elif self.table == "decay_rates" and "lr" in rows and rows["lr"].notna().any():
            rows = aggregate.selected_only(rows, tables["runs"])
        a = select(rows, self.where)
        b = select(rows, self.versus_rows) if self.versus is not None else None
        return Sample(a, b, self.pair_on, self.reduce, labels=self.labels, by=self.by)

    @property
    def versus_rows(self) -> Where:
        """The comparison population: `where` with `versus`'s changes (a None drops a key)."""
        both = {**self.where, **(self.versus or {})}
        return {k: v for k, v in both.items() if v is not None}

    def measurement(self) -> str:
        """What is measured, on which rows, in words."""
        rows = describe(self.where)
        versus = f" against {describe(self.versus_rows)}" if self.versus else ""
        return f"{self.experiment}, {self.table}: {MEASURES[self.measure].text}; {rows}{versus}"

    def sentence(self, verdict: str) -> str:
        """The report's conclusion for this verdict ('' where the claim gives none)."""
        return self.sentences.get(verdict, "")


def measure(claim: Claim, tables: Mapping[str, pd.DataFrame]) -> Measured:
    try:
        sample = claim.populations(tables)
        if claim.controlled:
            _check_controls(claim, tables, sample)
        return MEASURES[claim.measure].compute(sample)
    except Missing as why:
        return Measured(
            0, math.nan, math.nan, math.nan, f"not measured in {claim.experiment}: {why}"
        )


def _check_controls(claim: Claim, tables: Mapping[str, pd.DataFrame], sample: Sample) -> None:
    """Missing, saying why, when a task of the claim's rows failed its positive or negative
    control: this grid cannot measure horizons on it."""
    tasks = set(sample.a["task"]) | (set(sample.b["task"]) if sample.b is not None else set())
    checks = aggregate.controls(of_experiment(tables["horizons"], claim.experiment))
    for c in checks[checks["task"].isin(tasks)].itertuples():
        if not c.positive:
            raise Missing(
                f"no variant solves {c.task} at T = {c.seq_len} here (best: {c.best_variant}, "
                f"{c.n_solved} of {c.n_runs}): the positive control failed, so this grid "
                f"cannot measure horizons on {c.task}"
            )
        if not c.negative:
            raise Missing(
                f"the input-blind baseline meets {c.task}'s solved criterion: the negative "
                "control failed"
            )


def scorecard(claims: list[Claim], tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per claim, in the order given."""
    rows = []
    for c in claims:
        m = measure(c, tables)
        rows.append(
            dict(
                id=c.id,
                claim=c.text,
                source=c.source,
                measurement=c.measurement(),
                test=MEASURES[c.measure].interval,
                n=int(m.n),
                effect=float(m.effect),
                low=float(m.low),
                high=float(m.high),
                expected=f"{c.effect} {c.claimed}",
                measured=m.text,
                verdict=claim_verdict(m.low, m.high, c.claimed),
                n_to_decide=n_to_decide(m, c.claimed),
            )
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def n_to_decide(m: Measured, claimed: Region) -> float:
    """The n (seeds, or runs for a rate) at which the 95% interval would clear the edge of the
    claimed region nearest the estimate, either way (both edges of an equivalence region the
    estimate lies in), if its half-width on that side shrank as 1/sqrt(n) around the same
    estimate; n when it already does; inf when more of the same
    cannot decide it (an estimate on the edge, an interval open on that side, no measurement).
    A planning figure, not a measurement."""
    edges = [e for e in (claimed.low, claimed.high) if math.isfinite(e)]
    if m.n == 0 or not edges or math.isnan(m.effect):
        return math.inf
    if claim_verdict(m.low, m.high, claimed) != INCONCLUSIVE:
        return float(m.n)
    if len(edges) == 2 and claimed.low < m.effect < claimed.high:
        sides = edges  # inside an equivalence region: both ends of the interval must clear
    else:
        sides = [min(edges, key=lambda e: abs(m.effect - e))]
    n = 0.0
    for edge in sides:
        distance = abs(m.effect - edge)
        width = m.effect - m.low if edge < m.effect else m.high - m.effect
        if distance == 0 or not math.isfinite(width):
            return math.inf
        n = max(n, math.ceil(m.n * (width / distance) ** 2))
    return float(n)


def check(claims: list[Claim]) -> None:
    """Every claim names a registered measure and gives sentences only for real verdicts."""
    for c in claims:
        MEASURES.get(c.measure)
        unknown = set(c.sentences) - set(CLAIM_VERDICTS)
        if unknown:
            raise ValueError(f"claim {c.id}: sentences for unknown verdicts {sorted(unknown)}")


def conclusion(claim: Claim, score: pd.DataFrame) -> str:
    """The report's conclusion on a claim: its sentence for the verdict the scorecard gave it,
    with the measurement behind it ('' where the claim is not scored or gives no sentence)."""
    rows = score[score["id"] == claim.id]
    if rows.empty or not claim.sentence(rows["verdict"].iloc[0]):
        return ""
    row = rows.iloc[0]
    return f"{claim.sentence(row['verdict'])} Measured: {row['measured']}; {row['verdict']}."


def effect_text(row) -> str:
    """A scorecard row's effect and its interval: '0.25 [0.1, 0.4]'."""
    return interval(row.effect, row.low, row.high)

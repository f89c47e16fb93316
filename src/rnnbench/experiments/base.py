"""What an experiment is: one config section (a probe or a training grid, or the replications),
the claims it tests, its figures and its report section, each a function of the pipeline's
tables filtered to its own rows (`Experiment.rows`). Adding an experiment is one module in this
package plus its section in config/config.yaml."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import pandas as pd

from ..claims import Claim
from ..plotting import Figure
from ..report import Section, Table
from ..sections import ProbeSection, TrainSection
from ..selection import of_experiment

# An experiment's report section: (its section, titled and listing its figures; the tables,
# filtered to its rows; the claims scorecard) -> the section with its text and tables.
Report = Callable[[Section, Mapping[str, pd.DataFrame], pd.DataFrame], Section]

# Its table in `rnnbench compare`: (the tables, filtered to its rows) -> one row per variant (and
# task), a `variant` column, every number with its interval and n; the caption says how to read it.
Comparison = Callable[[Mapping[str, pd.DataFrame]], Table]

# The papers the claims cite, as the report names them.
HOCHREITER_1991 = "Hochreiter 1991"
BENGIO_1994 = "Bengio, Simard & Frasconi 1994"
LSTM_1997 = "Hochreiter & Schmidhuber 1997"
PASCANU_2013 = "Pascanu, Mikolov & Bengio 2013"
LE_2015 = "Le, Jaitly & Hinton 2015"
JOZEFOWICZ_2015 = "Jozefowicz, Zaremba & Sutskever 2015"
ARJOVSKY_2016 = "Arjovsky, Shah & Bengio 2016"
LI_2018 = "Li, Li, Cook, Zhu & Gao 2018"


@dataclass(frozen=True)
class Experiment:
    """One experiment: its config section, claims, figures and report section."""

    id: str  # the key of its config section and its results folder (results/cells/<id>)
    title: str  # as the report heads its section
    summary: str  # what its config section sets up (config docs, schema)
    section: type | None  # ProbeSection, TrainSection; None: it parses its own (replications)
    claims: tuple[Claim, ...] = ()
    profiles: bool = False  # its gradient-through-time profiles feed gradient_profiles
    figures: tuple[Figure, ...] = ()  # drawn from its rows of the tables (the plot rule)
    report: Report | None = None  # its report section (rnnbench.paper); None: none
    compare: Comparison | None = None  # its table in `rnnbench compare`; None: not compared

    def __post_init__(self):
        for name in ("claims", "figures"):
            mine = tuple(replace(x, experiment=self.id) for x in getattr(self, name))
            object.__setattr__(self, name, mine)

    def rows(self, tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """The tables, each filtered to this experiment's rows where it has an experiment column:
        what its figures and report section read."""
        return {name: of_experiment(table, self.id) for name, table in tables.items()}

    @property
    def kind(self) -> str:
        """probe, train or replications: how its trials are planned and run."""
        return {ProbeSection: "probe", TrainSection: "train", None: "replications"}[self.section]

    @property
    def short(self) -> str:
        """'E3': the title's first word."""
        return self.title.split(" ", 1)[0]

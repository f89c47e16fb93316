"""What an experiment is: one config section (a probe or a training grid, or the replications),
the claims it tests, and (`rnnbench.experiments.*`) its figures and report section. Adding an
experiment is one module in this package plus its section in config/config.yaml."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..claims import Claim
from ..sections import ProbeSection, TrainSection

# The papers the claims cite, as the report names them.
HOCHREITER_1991 = "Hochreiter 1991"
BENGIO_1994 = "Bengio, Simard & Frasconi 1994"
LSTM_1997 = "Hochreiter & Schmidhuber 1997"
PASCANU_2013 = "Pascanu, Mikolov & Bengio 2013"
LE_2015 = "Le, Jaitly & Hinton 2015"
JOZEFOWICZ_2015 = "Jozefowicz, Zaremba & Sutskever 2015"
ARJOVSKY_2016 = "Arjovsky, Shah & Bengio 2016"


@dataclass(frozen=True)
class Experiment:
    """One experiment: its config section, claims, and the tables its jobs feed."""

    id: str  # its config section and its results folder, e.g. e3_long_range
    title: str  # as the report heads its section
    summary: str  # what its config section sets up (config docs, schema)
    section: type | None  # ProbeSection, TrainSection; None: it parses its own (replications)
    claims: tuple[Claim, ...] = ()
    profiles: bool = False  # its gradient-through-time profiles feed gradient_profiles

    def __post_init__(self):
        object.__setattr__(
            self, "claims", tuple(replace(c, experiment=self.id) for c in self.claims)
        )

    @property
    def kind(self) -> str:
        """probe, train or replications: how its trials are planned and run."""
        return {ProbeSection: "probe", TrainSection: "train", None: "replications"}[self.section]

    @property
    def short(self) -> str:
        """'E3': the title's first word."""
        return self.title.split(" ", 1)[0]

"""The pipeline config: config/config.yaml with each --configfile (and --config) merged over it,
validated before any job, normalised with every default filled.

Every key is a field of a dataclass: `Pipeline` below for the top level, and each experiment's
section type (`rnnbench.sections`) for its section, whose fields come from the spec dataclasses
(`rnnbench.spec`); their `opt` metadata is the one place where a key's description, default and
choices live (`rnnbench.configdoc` generates the JSON schema and config/README.md's key tables
from them). A bad value is one line naming the file that set it, the key path and the problem,
in the words `rnnbench train` uses for the same mistake: `config/mine.yaml:
<experiment>.train.lr: expected float, got str 'fast'`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import conformance, replications, resolve
from .errors import SpecError
from .experiments import EXPERIMENTS
from .measures import TARGET_MEASURES
from .sections import variants
from .spec import TIERS, RuntimeSpec, opt, parse, read_yaml, to_dict

DEFAULT = "config/config.yaml"  # the default grid; every --configfile is merged over it
PACKING = ("grid_point", "trial")


@dataclass(frozen=True)
class Pipeline:
    """The top-level keys other than the experiment sections."""

    pack: str = opt(
        "grid_point",
        "the trials one job runs, one after another in one process: grid_point (every model "
        "variant of one task x seq_len x hidden_size; a job's start-up, Python, import torch and "
        "table writing, is paid once per grid point) or trial (one job per trial, for a cluster "
        "whose trials run for hours)",
        choices=PACKING,
    )
    experiments: list[str] = opt(
        list(EXPERIMENTS),
        "the experiments this run builds (their jobs, tables, figures and report sections); "
        "config/replications.yaml runs only replications",
        names="experiment",
    )
    tier: str = opt(
        "laptop",
        "replications: laptop trains the runs of tier laptop (minutes on a laptop), full every "
        "run (a cluster or a GPU); a target whose run is not trained is reported as not run",
        choices=TIERS,
    )
    runtime: RuntimeSpec = opt(RuntimeSpec(), "process settings shared by every job")
    replications: dict = opt({}, EXPERIMENTS["replications"].summary)


CHOICES = {**resolve.CHOICES, "experiment": EXPERIMENTS, "measure": TARGET_MEASURES}
LOOKUPS = {**resolve.LOOKUPS, "experiment": EXPERIMENTS.get}


def merge(config: dict, over: dict) -> None:
    """Merge over into config in place, as Snakemake merges configs: mappings key by key, any
    other value (a list, a number, a string) replaced."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merge(config[key], value)
        else:
            config[key] = value


def load(*configs: str | Path | dict | None) -> dict:
    """config/config.yaml with each config (a file, or a mapping as --config gives) merged over
    it in turn, validated (`validated`); a missing file or bad YAML is one line naming it (and
    the line)."""
    sources = [(DEFAULT, read_yaml(DEFAULT))]
    sources += [
        ("--config", c) if isinstance(c, dict) else (str(c), read_yaml(c))
        for c in configs
        if c is not None
    ]
    config: dict = {}
    for name, data in sources:
        if data is not None and not isinstance(data, dict):
            raise SpecError("", "expected a mapping of config keys", file=name)
        merge(config, data or {})
    return validated(config, sources)


def validated(config: dict, sources: Sequence[tuple[str, dict]] = ()) -> dict:
    """The config normalised (every key present, every default filled), or a one-line SpecError
    naming the file that set the bad key (the last of `sources`, in merge order, that sets it)."""
    try:
        return _validated(config)
    except SpecError as err:
        raise err.in_file(origin(err.key, sources)) from None


def _validated(config: dict) -> dict:
    top = {k: v for k, v in config.items() if k not in EXPERIMENTS or k == "replications"}
    pipeline = parse(Pipeline, top, "", LOOKUPS)
    out = to_dict(pipeline)
    models = []  # (block key, model) of every variant
    for e in EXPERIMENTS.values():
        if e.section is not None and e.id in config:
            section = resolve.spec(e.section, config[e.id], e.id)
            found = variants(section.models, f"{e.id}.models")  # every variant checked
            models += [(f"{key}.cell", model) for key, _, _, model in found]
            out[e.id] = to_dict(section)
    conformance.require_plugins(models)  # a plugin cell breaking its contract: before any job
    replications.load(pipeline.replications, out["runtime"])  # every run and target checked
    return out


def origin(key: str, sources: Sequence[tuple[str, dict]]) -> str:
    """The source that set `key` (a dotted path with [i] indices): the last in merge order that
    holds the longest part of it; '' without sources."""
    best, depth = "", -1
    for name, data in sources:
        d = _depth(data, key)
        if d >= depth and d > 0:
            best, depth = name, d
    return best or (sources[0][0] if sources else "")


def _depth(data, key: str) -> int:
    """How many parts of the key path data holds."""
    parts = key.replace("[", ".[").split(".") if key else []
    depth = 0
    for part in parts:
        if part.startswith("[") and isinstance(data, list):
            i = int(part[1:-1])
            if i >= len(data):
                break
            data = data[i]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            break
        depth += 1
    return depth

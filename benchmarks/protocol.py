"""What train-until-solved and the horizon ladder save, and how well the time model predicts.

    python benchmarks/protocol.py cell [--paper]  # one cell with and without stopping, same process
    python benchmarks/protocol.py grid [--configfile config/paper.yaml] [--results results]

`cell` trains one grid cell of the default config (E3 adding, T = 100, LSTM) or, with --paper,
of config/paper.yaml (E3 adding, T = 20, GRU: the paper grid's cheapest gated cell), first with
`stop_when_solved` and then without it for `--baseline-steps` steps; the cost of the full budget
without stopping is that per-step cost times the steps (a cell without stopping costs the same at
every step), and the speed-up is their ratio.

`grid` reads a finished pipeline run: per experiment the estimated cost of every cell at its full
budget (`rnnbench.resources.estimate_seconds`, the upper bound with neither saving), the share of
it the ladder skipped, and, for the cells trained, the measured seconds (runs' wall_seconds x
models) against their estimate; cells in which no model stopped early show how well the time model
predicts.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import pandas as pd

from rnnbench import config as pipeline_config
from rnnbench import grid
from rnnbench.errors import CorruptFileError, SpecError
from rnnbench.resources import estimate_seconds
from rnnbench.tables import read_table


def cell(args) -> None:
    from rnnbench.train import train_trial

    config = pipeline_config.load("config/paper.yaml" if args.paper else None)
    want = "adding_T20_H128_gru" if args.paper else "adding_T100_H16_lstm"
    job = next(j for j in grid.trials(config) if j.trial_id == want)
    spec = job.spec
    start = time.perf_counter()
    stopped = train_trial(spec)
    t_stop = time.perf_counter() - start
    short = dataclasses.replace(
        spec,
        train=dataclasses.replace(spec.train, stop_when_solved=False, steps=args.baseline_steps),
    )
    start = time.perf_counter()
    train_trial(short)
    per_step = (time.perf_counter() - start) / (args.baseline_steps + 1)
    t_full = per_step * (spec.train.steps + 1)
    runs = stopped.runs
    print(f"{want}: {len(runs)} models, {spec.train.steps} steps budget")
    print(f"  with stopping: {t_stop:.1f} s; statuses {runs.status.value_counts().to_dict()}; "
          f"median steps trained {runs.steps_trained.median():.0f}")  # fmt: skip
    print(f"  without: {per_step * 1e3:.1f} ms per step x {spec.train.steps + 1} = {t_full:.1f} s")
    print(f"  speed-up {t_full / t_stop:.2f}x; estimate {estimate_seconds(spec):.1f} s")


def grid_savings(args) -> None:
    config = pipeline_config.load(args.configfile)
    paths = sorted(Path(args.results, "cells").glob("*/*/runs.parquet"))
    if not paths:
        raise CorruptFileError(f"{args.results}/cells: no runs tables; run the pipeline first")
    runs = pd.concat(read_table(p) for p in paths)
    cells = runs.groupby(["experiment", "cell_id"]).agg(
        status=("status", lambda s: "skipped" if (s == "skipped").all() else "trained"),
        seconds=("wall_seconds", "sum"),
        early=("steps_trained", lambda s: bool((s < s.max()).any() or s.max() == 0)),
    )
    rows = []
    for job in grid.trials(config):
        if job.kind != "train" or (job.experiment, job.trial_id) not in cells.index:
            continue
        c = cells.loc[(job.experiment, job.trial_id)]
        rows.append(dict(experiment=job.experiment, estimate=estimate_seconds(job.spec), **c))
    if not rows:
        raise CorruptFileError(
            f"{args.results}/cells: no trained trial of this config (give the --configfile of "
            "the run that wrote them)"
        )
    df = pd.DataFrame(rows)
    for experiment, g in df.groupby("experiment"):
        trained = g[g.status == "trained"]
        full = trained[~trained.early]
        print(
            f"{experiment}: {len(g)} cells, full-budget estimate {g.estimate.sum():.0f} s; "
            f"ladder skipped {len(g) - len(trained)} cells = "
            f"{1 - trained.estimate.sum() / g.estimate.sum():.0%} of it; trained cells measured "
            f"{trained.seconds.sum():.0f} s against their estimate {trained.estimate.sum():.0f} s "
            f"({trained.seconds.sum() / trained.estimate.sum():.2f}); cells without an early "
            f"stop: measured / estimate {full.seconds.sum() / max(full.estimate.sum(), 1e-9):.2f} "
            f"over {len(full)} cells"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cell", help="one cell with and without stopping")
    c.add_argument("--paper", action="store_true", help="a cell of config/paper.yaml")
    c.add_argument("--baseline-steps", type=int, default=300)
    g = sub.add_parser("grid", help="what stopping and the ladder saved in a finished run")
    g.add_argument("--configfile", type=Path, default=None)
    g.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    try:
        cell(args) if args.command == "cell" else grid_savings(args)
    except (SpecError, CorruptFileError) as err:
        sys.exit(f"protocol.py: error: {err}")


if __name__ == "__main__":
    main()

"""The `rnnbench` command line: train or probe one grid cell from a YAML spec; benchmarks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import overhead
from . import spec as specs
from .errors import CorruptFileError, SpecError
from .tables import write_table

EXAMPLE = """\
example spec (every key optional; `rnnbench keys` lists them all):
  task: {name: adding, seq_len: 100}
  model: {cell: rnn, nonlinearity: tanh, init: orthogonal, rho: 1.0, hidden_size: 64}
  train: {optimizer: adam, lr: 0.001, steps: 500, seeds: [0, 1, 2],
          clipping: [{mode: none}, {mode: norm, threshold: 1.0}]}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rnnbench",
        description="Exploding and vanishing gradients in RNNs, measured.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("train", "train every seed x clip setting of one grid cell as an ensemble"),
        ("probe", "gradient-through-time profiles at initialisation (no training)"),
    ):
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=EXAMPLE,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("spec", type=Path, help="YAML spec file")
        p.add_argument(
            "--out",
            type=Path,
            default=Path("results/cli"),
            help="output folder for runs/curves/profiles .parquet + .csv",
        )
        p.add_argument("--quiet", action="store_true", help="no progress lines")
    from . import bench  # speed comparison against the naive per-seed baseline

    bench.add_parser(sub)
    over = sub.add_parser(
        "overhead",
        help="the pipeline's overhead: grid-cell job wall time not spent computing",
        description="Per grid-cell job: wall time (Snakemake benchmark) and the seconds spent "
        "training or probing; overhead = (sum of job wall time - sum of compute) / sum of job "
        "wall time. Prints the totals, writes one CSV row per job.",
    )
    over.add_argument("--results", type=Path, default=Path("results"), help="results folder")
    over.add_argument(
        "--out", type=Path, default=None, help="CSV (default <results>/benchmarks/pipeline.csv)"
    )
    est = sub.add_parser(
        "estimate",
        help="each training job's estimated time for a pipeline config, and the grid's cost",
        description="Per training job of the pipeline: its cells' estimated training time "
        "(rnnbench.resources: every model trains every step, the upper bound that "
        "train-until-solved and the horizon ladder cut), the SLURM time limit it asks for, and "
        "the totals in core-hours. A --configfile is merged over config/config.yaml, as "
        "Snakemake does.",
    )
    est.add_argument(
        "--configfile", type=Path, nargs="+", default=[], help="configs merged over the default"
    )
    est.add_argument("--jobs", action="store_true", help="one line per job, not only the totals")
    est.add_argument("--tier", choices=specs.TIERS, default=None, help="the replications' tier")
    data = sub.add_parser(
        "data",
        help="fetch the downloaded datasets some tasks read (MNIST)",
        description="Datasets that are not bundled: fetched once into the data folder "
        "(task.data_dir, else $RNNBENCH_DATA, else ~/.cache/rnnbench), every file checked by "
        "its published SHA-256.",
    )
    fetch = data.add_subparsers(dest="action", required=True).add_parser(
        "fetch",
        help="download what is missing or altered, and check every file",
        description="Download the files of a dataset from the first public mirror that serves "
        "them (MNIST: $RNNBENCH_MNIST_MIRRORS replaces the mirror list), keep each only when "
        "its SHA-256 is the published one, and check that every file parses. Files already "
        "there and intact are not downloaded again.",
    )
    fetch.add_argument("dataset", choices=("mnist",), help="the dataset (rnnbench.mnist)")
    fetch.add_argument(
        "--data-dir",
        action="append",
        default=None,
        help="data folder (repeatable; default: $RNNBENCH_DATA, else ~/.cache/rnnbench)",
    )
    fetch.add_argument(
        "--record", type=Path, default=None, help="write each file and its SHA-256 here (JSON)"
    )
    kern = sub.add_parser(
        "kernels",
        help="build (once) or load the compiled kernels, and print which build runs",
        description="The compiled kernels (rnnbench.kernels) are built once per torch build and "
        "cached under $TORCH_EXTENSIONS_DIR (default ~/.cache/torch_extensions); this builds them "
        "now if needed (the pipeline's build_kernels rule runs it before any job) and prints the "
        "build that runs, or why eager torch runs instead.",
    )
    kern.add_argument("--record", type=Path, default=None, help="write the result here (JSON)")
    check = sub.add_parser(
        "check-cell",
        help="check a recurrent cell against the cell contract (the conformance suite)",
        description="Run every check of rnnbench.conformance on a tiny ensemble of the cell (a "
        "built-in name or the import path module:Class of your own): state shapes and count, "
        "dtype, determinism, NaN isolation between models, its constraint and learning-rate "
        "scales, and in float64 autograd's gradients against finite differences, the gradient "
        "probe against autograd, the hand-written backward (if any) against autograd and "
        "torch_baseline (if any) against the cell. Prints the cell's hyperparameters, then one "
        "line per check; exit status 1 if any check failed. The spec and pipeline loaders run "
        "the quick checks (--quick) on a plugin cell before any job.",
    )
    _cell_arguments(check, "other model keys (nonlinearity, init, rho, forget_bias, probe_state)")
    check.add_argument("--quick", action="store_true", help="only the checks the loaders run")
    comp = sub.add_parser(
        "compare",
        help="your cell beside the built-ins: E1 probes, E3 horizons, E5 digits, and a report",
        description="Add the cell (a built-in name or module:Class, with its hyperparameters "
        "and model keys) as one variant to E1, E3 and E5 of the pipeline config "
        "(config/config.yaml and any --configfile merged over it: the same grids, budgets and "
        "lr sweeps as the built-ins), write that config to results/compare/<variant>/, run the "
        "pipeline on it here (the repository root; the built-ins' jobs whose tables exist are "
        "reused) and write the comparison, every number with its 95%% interval, to "
        "results/compare/<variant>/comparison.md.",
    )
    _cell_arguments(comp, "other model keys (init, ...)")
    comp.add_argument(
        "--configfile", nargs="+", default=[], help="configs merged over config/config.yaml"
    )
    comp.add_argument("--cores", type=int, default=2, help="Snakemake's --cores (default 2)")
    comp.add_argument("--dry-run", action="store_true", help="plan the jobs, run none")
    keys = sub.add_parser("keys", help="list every spec key with its meaning and default")
    keys.add_argument(
        "kind", choices=("train", "probe", "run", "target"), nargs="?", default="train"
    )
    args = parser.parse_args(argv)

    try:
        if args.command == "keys":
            return _keys(args.kind)
        if args.command == "bench":
            return bench.run(args)
        if args.command == "overhead":
            return _overhead(args)
        if args.command == "estimate":
            return _estimate(args)
        if args.command == "data":
            return _data(args)
        if args.command == "kernels":
            return _kernels(args)
        if args.command == "check-cell":
            return _check_cell(args)
        if args.command == "compare":
            from . import compare

            params, fields = key_values(args.params, "--params"), key_values(args.model, "--model")
            return compare.run(
                args.cell, params, fields, [str(f) for f in args.configfile], args.cores,
                args.dry_run,
            )  # fmt: skip
        return _run(args)
    except (SpecError, CorruptFileError) as err:
        print(f"rnnbench: error: {err}", file=sys.stderr)
        return 2


def _cell_arguments(parser, model_help: str) -> None:
    """The cell, its hyperparameters and other model keys: check-cell's and compare's."""
    parser.add_argument("cell", help="a built-in cell name or module:Class")
    parser.add_argument(
        "--params", nargs="+", default=[], metavar="KEY=VALUE", help="the cell's hyperparameters"
    )
    parser.add_argument("--model", nargs="+", default=[], metavar="KEY=VALUE", help=model_help)


def _run(args) -> int:
    from . import conformance, resolve  # imports torch: after argument checks
    from .train import probe_trial, train_trial

    spec = resolve.load(specs.TrialSpec if args.command == "train" else specs.ProbeSpec, args.spec)
    conformance.require_plugins([("model.cell", spec.model)])  # a broken plugin cell: one line
    if args.command == "train":
        progress = None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True)
        result = train_trial(spec, progress)
    else:
        result = probe_trial(spec)
    written = []
    for name in ("runs", "curves", "profiles"):
        table = getattr(result, name)
        if len(table):
            write_table(table, args.out / name, result.meta)
            written.append(name)
    print(f"wrote {args.out}/{{{','.join(written)}}}.parquet/.csv")
    return 0


def _keys(kind: str) -> int:
    """rnnbench keys: every key of a spec kind, its meaning, its choices and its default."""
    from .config import CHOICES
    from .replications import Run, Target

    cls = dict(train=specs.TrialSpec, probe=specs.ProbeSpec, run=Run, target=Target)[kind]
    for key, f, default in specs.leaves(cls):
        meta = f.metadata
        choices = meta["choices"] or (list(CHOICES[meta["names"]]) if meta["names"] else [])
        plugin = ", or an import path module:Class" if meta["names"] == "cell" else ""
        listed = f" (one of: {', '.join(map(str, choices))}{plugin})" if choices else ""
        print(f"{key:32s} {meta['help']}{listed} (default: {default})")
    return 0


def key_values(pairs: list[str], where: str) -> dict:
    """KEY=VALUE arguments as a mapping, each value read as YAML (0.1 a float, true a bool)."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SpecError(where, f"expected KEY=VALUE, got {pair!r}")
        out[key] = yaml.safe_load(value)
    return out


def _check_cell(args) -> int:
    import dataclasses

    from . import cells, conformance

    spec = conformance.model_spec(
        args.cell, key_values(args.params, "--params"), **key_values(args.model, "--model")
    )
    cell = cells.get(spec.cell)
    truncated = f"; gradient truncated at {', '.join(cell.truncated)}" if cell.truncated else ""
    print(f"cell {spec.cell}: {cell.label}, {cell.gates} gate block(s), states "
          f"{', '.join(cell.state_names)}{truncated}")  # fmt: skip
    fields = dataclasses.fields(cell.Params)
    print("hyperparameters (model.params):" if fields else "hyperparameters: none")
    for f in fields:
        bounds = ", ".join(
            f"{word} {f.metadata[k]}"
            for k, word in (("min", ">="), ("gt", ">"), ("max", "<="), ("lt", "<"))
            if f.metadata.get(k) is not None
        )
        choices = f.metadata.get("choices")
        limits = "; ".join(filter(None, [bounds, choices and "one of " + ", ".join(choices)]))
        value = spec.params[f.name]
        print(f"  {f.name} = {value!r} ({f.type}{'; ' + limits if limits else ''}): "
              f"{f.metadata['help']}")  # fmt: skip
    results = conformance.run(spec, quick=args.quick)
    for r in results:
        print(str(r) if r.status == "failed" else f"  {r.check:16s} {r.status}" +
              (f" ({r.detail})" if r.detail else ""))  # fmt: skip
    failed = sum(r.status == "failed" for r in results)
    print(f"{len(results) - failed} of {len(results)} checks passed or skipped, {failed} failed")
    return 1 if failed else 0


def _estimate(args) -> int:
    from . import config as pipeline_config
    from . import grid
    from .resources import runtime_minutes

    total: dict[str, float] = {}
    tier = [{"tier": args.tier}] if args.tier else []
    config = pipeline_config.load(*args.configfile, *tier)
    for job in grid.jobs(config):
        if job.trials[0].kind != "train":
            continue
        seconds = job.estimated_seconds
        total[job.experiment] = total.get(job.experiment, 0.0) + seconds
        if args.jobs:
            print(f"{job.folder}: ~{seconds / 60:.1f} min (limit {runtime_minutes(seconds)} min)")
    for experiment, seconds in total.items():
        print(f"{experiment}: {seconds / 3600:.2f} core-hours at most")
    print(f"all training: {sum(total.values()) / 3600:.2f} core-hours at most (one thread per job)")
    return 0


def _data(args) -> int:
    """rnnbench data fetch: every data folder given, and the record the pipeline depends on."""
    import json

    from .tasks.mnist import fetch

    files = {}
    for data_dir in args.data_dir or [""]:
        files.update(fetch(data_dir))
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        record = {"dataset": args.dataset, "sha256": files}
        args.record.write_text(json.dumps(record, indent=1) + "\n")
    return 0


def _kernels(args) -> int:
    """rnnbench kernels: build or load them now; the record the pipeline's jobs wait for."""
    import json

    import torch

    from . import kernels

    name = kernels.prepare(torch.device("cpu"))
    print(f"compiled kernels: {name}")
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps({"lstm_cell": name}, indent=1) + "\n")
    return 0


def _overhead(args) -> int:
    jobs = overhead.job_times(args.results)
    out = overhead.write_csv(jobs, args.out or args.results / "benchmarks/pipeline.csv")
    print(overhead.format_summary(overhead.summary(jobs)))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

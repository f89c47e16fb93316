"""`rnnbench bench`: the suite's trainer against the naive baseline (filled in by the performance work)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure training speed against the naive per-seed baseline")
    p.add_argument("--out", default="results/benchmarks/training.csv", help="CSV to write")


def run(args) -> int:
    raise NotImplementedError("rnnbench bench is not implemented yet")

"""Snakemake adapter: per-cell runs -> results/tables/runs (every grid cell checked present)."""

from pathlib import Path

from rnnbench import aggregate
from rnnbench.tables import provenance, write_table


def main(smk) -> None:
    table = aggregate.runs(aggregate.read_cells(smk.input.cells), smk.params.expected)
    write_table(table, Path(smk.output.parquet).with_suffix(""), provenance(smk, "runs"))
    counts = table["status"].value_counts().to_dict()
    Path(smk.log[0]).write_text(f"{len(table)} runs: {counts}\n")


main(snakemake)  # noqa: F821

"""Snakemake adapter: per-cell curves -> results/tables/curves."""

from pathlib import Path

from rnnbench import aggregate
from rnnbench.tables import provenance, write_table


def main(smk) -> None:
    table = aggregate.curves(aggregate.read_cells(smk.input.cells))
    write_table(table, Path(smk.output.parquet).with_suffix(""), provenance(smk, "curves"))
    Path(smk.log[0]).write_text(f"{len(table)} rows\n")


main(snakemake)  # noqa: F821

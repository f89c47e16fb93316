"""Snakemake adapter: per-cell profiles -> results/tables/gradient_profiles."""

from pathlib import Path

from rnnbench import aggregate
from rnnbench.tables import provenance, write_table


def main(smk) -> None:
    table = aggregate.gradient_profiles(aggregate.read_cells(smk.input.cells))
    write_table(
        table, Path(smk.output.parquet).with_suffix(""), provenance(smk, "gradient_profiles")
    )
    Path(smk.log[0]).write_text(f"{len(table)} rows\n")


main(snakemake)  # noqa: F821

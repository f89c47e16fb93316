"""Snakemake adapter: runs -> results/tables/horizons."""

from pathlib import Path

from rnnbench import aggregate
from rnnbench.tables import provenance, read_table, write_table


def main(smk) -> None:
    table = aggregate.horizons(read_table(smk.input.table))
    write_table(table, Path(smk.output.parquet).with_suffix(""), provenance(smk, "horizons"))
    Path(smk.log[0]).write_text(f"{len(table)} rows\n")


main(snakemake)  # noqa: F821

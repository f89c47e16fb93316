"""Snakemake adapter: gradient_profiles -> results/tables/decay_rates."""

from pathlib import Path

from rnnbench import aggregate
from rnnbench.tables import provenance, read_table, write_table


def main(smk) -> None:
    table = aggregate.decay_rates(read_table(smk.input.table))
    write_table(table, Path(smk.output.parquet).with_suffix(""), provenance(smk, "decay_rates"))
    Path(smk.log[0]).write_text(f"{len(table)} rows\n")


main(snakemake)  # noqa: F821

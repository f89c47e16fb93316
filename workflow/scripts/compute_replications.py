"""Snakemake adapter: runs + the replications section -> results/tables/replications."""

from pathlib import Path

from rnnbench import replications
from rnnbench.tables import provenance, read_table, write_table


def main(smk) -> None:
    table = replications.table(read_table(smk.input.table), smk.params.section, smk.params.tier)
    write_table(table, Path(smk.output.parquet).with_suffix(""), provenance(smk, "replications"))
    counts = table["verdict"].value_counts().to_dict()
    Path(smk.log[0]).write_text(f"{len(table)} targets: {counts}\n")


main(snakemake)  # noqa: F821

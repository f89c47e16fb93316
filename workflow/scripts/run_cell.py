"""Snakemake adapter: run one grid cell (probe or training) and write its tables."""

import traceback
from pathlib import Path

from rnnbench.grid import run_cell


def main(smk) -> None:
    with open(smk.log[0], "w") as log:
        try:
            run_cell(
                smk.wildcards.experiment,
                smk.wildcards.cell,
                smk.params.variant,
                smk.params.spec,
                Path(smk.output.runs).parent,
                log,
            )
        except Exception:
            traceback.print_exc(file=log)
            raise


main(snakemake)  # noqa: F821

"""Snakemake adapter: run the grid cells of one job (probes or training) and write their tables."""

import traceback
from pathlib import Path

from rnnbench.grid import run_cells


def main(smk) -> None:
    with open(smk.log[0], "w") as log:
        try:
            run_cells(
                smk.wildcards.experiment,
                smk.wildcards.pack,
                smk.params.cells,
                Path(smk.output.runs).parent,
                log,
            )
        except Exception:
            traceback.print_exc(file=log)
            raise


main(snakemake)  # noqa: F821

"""Snakemake adapter: run the trials of one job (probes or training) and write their tables."""

import traceback
from pathlib import Path

from rnnbench.execute import run_job


def main(smk) -> None:
    with open(smk.log[0], "w") as log:
        try:
            run_job(
                smk.wildcards.experiment,
                smk.wildcards.job,
                smk.params.trials,
                Path(smk.output.runs).parent,
                log,
            )
        except Exception:
            traceback.print_exc(file=log)
            raise


main(snakemake)  # noqa: F821

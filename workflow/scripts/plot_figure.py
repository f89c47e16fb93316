"""Snakemake adapter: read the tables the figure reads, keep its experiment's rows, draw it, save
PNG + SVG."""

from pathlib import Path

from rnnbench.experiments import EXPERIMENTS, FIGURES
from rnnbench.plotting import save
from rnnbench.tables import read_table


def main(smk) -> None:
    figure = FIGURES[smk.wildcards.figure]
    tables = {name: read_table(smk.input[name]) for name in figure.inputs}
    rows = EXPERIMENTS[figure.experiment].rows(tables)
    save(figure.plot(**rows), smk.output.png, smk.output.svg)
    Path(smk.log[0]).write_text(f"drew {figure.name} from {', '.join(tables)}\n")


main(snakemake)  # noqa: F821

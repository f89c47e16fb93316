"""Snakemake adapter: read the tables the figure reads, draw it, save PNG + SVG."""

from pathlib import Path

from rnnbench.figures import FIGURES, save
from rnnbench.tables import read_table


def main(smk) -> None:
    figure = FIGURES[smk.wildcards.figure]
    tables = {name: read_table(smk.input[name]) for name in figure.inputs}
    save(figure.plot(**tables), smk.output.png, smk.output.svg)
    Path(smk.log[0]).write_text(f"drew {figure.name} from {', '.join(tables)}\n")


main(snakemake)  # noqa: F821

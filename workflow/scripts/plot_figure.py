"""Snakemake adapter: read the named input tables, draw one figure, save PNG + SVG."""

from pathlib import Path

from rnnbench.figures import FIGURES, save
from rnnbench.tables import read_table


def main(smk) -> None:
    tables = {name: read_table(path) for name, path in smk.input.items() if name != "code"}
    save(FIGURES[smk.params.figure](**tables), smk.output.png, smk.output.svg)
    Path(smk.log[0]).write_text(f"drew {smk.params.figure} from {', '.join(tables)}\n")


main(snakemake)  # noqa: F821

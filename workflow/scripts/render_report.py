"""Snakemake adapter: tables + figures + captions -> claims table and report/report.{md,html}."""

from pathlib import Path

from rnnbench.paper import build_report


def main(smk) -> None:
    score = build_report(
        tables_dir=Path(smk.input.tables[0]).parent,
        figures_dir=Path(smk.input.figures[0]).parent,
        captions_dir=Path(smk.input.captions[0]).parent,
        config=dict(smk.params.config),
        out_dir=Path(smk.output.md).parent,
    )
    counts = score["verdict"].value_counts().to_dict()
    Path(smk.log[0]).write_text(f"report written; claims: {counts}\n")


main(snakemake)  # noqa: F821

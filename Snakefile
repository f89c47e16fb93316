"""rnnbench: exploding and vanishing gradients in RNNs, LSTMs and GRUs, measured.

Run: snakemake --cores all   (config/config.yaml; see config/README.md for every key)
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


# common.smk validates the config (rnnbench.config) and plans every job before any runs
include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/kernels.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_outputs(),


onsuccess:
    print(*summary.lines(), sep="\n")

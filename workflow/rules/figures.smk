"""Figures F1-F8 (rnnbench.experiments.FIGURES, each declared by its experiment): one rule draws
any registered figure from its experiment's rows of the tables only, so restyling never
retrains."""


rule plot_figure:
    input:
        unpack(get_figure_tables),
        code=get_figure_code,
    output:
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category=get_figure_category,
        ),
        svg="results/figures/{figure}.svg",
    log:
        "logs/figures/{figure}.log",
    wildcard_constraints:
        figure=FIGURE_NAMES,
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        caption=get_figure_caption,
    script:
        "../scripts/plot_figure.py"

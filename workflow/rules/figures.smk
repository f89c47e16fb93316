"""Figures F1-F6: one rule per figure; each reads tables only, so restyling never retrains."""


rule plot_gradient_decay:
    input:
        gradient_profiles="results/tables/gradient_profiles.parquet",
        code=FIGURES_CODE,
    output:
        png=report(
            "results/figures/f1_gradient_decay.png",
            caption="../report/f1_gradient_decay.rst",
            category="E1 gradients at initialisation",
        ),
        svg="results/figures/f1_gradient_decay.svg",
    log:
        "logs/figures/f1_gradient_decay.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="f1_gradient_decay",
    script:
        "../scripts/plot_figure.py"


rule plot_divergence:
    input:
        runs="results/tables/runs.parquet",
        code=FIGURES_CODE,
    output:
        png=report(
            "results/figures/f2_divergence.png",
            caption="../report/f2_divergence.rst",
            category="E2 exploding gradients and clipping",
        ),
        svg="results/figures/f2_divergence.svg",
    log:
        "logs/figures/f2_divergence.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="f2_divergence",
    script:
        "../scripts/plot_figure.py"


rule plot_grad_norm_traces:
    input:
        curves="results/tables/curves.parquet",
        code=FIGURES_CODE,
    output:
        png=report(
            "results/figures/f3_grad_norm_traces.png",
            caption="../report/f3_grad_norm_traces.rst",
            category="E2 exploding gradients and clipping",
        ),
        svg="results/figures/f3_grad_norm_traces.svg",
    log:
        "logs/figures/f3_grad_norm_traces.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="f3_grad_norm_traces",
    script:
        "../scripts/plot_figure.py"


rule plot_horizons:
    input:
        horizons="results/tables/horizons.parquet",
        code=FIGURES_CODE,
    output:
        png=report(
            "results/figures/f4_horizons.png",
            caption="../report/f4_horizons.rst",
            category="E3 long-range learning",
        ),
        svg="results/figures/f4_horizons.svg",
    log:
        "logs/figures/f4_horizons.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="f4_horizons",
    script:
        "../scripts/plot_figure.py"


rule plot_gradient_flow:
    input:
        gradient_profiles="results/tables/gradient_profiles.parquet",
        code=FIGURES_CODE,
    output:
        png=report(
            "results/figures/f5_gradient_flow.png",
            caption="../report/f5_gradient_flow.rst",
            category="E4 gradient flow during training",
        ),
        svg="results/figures/f5_gradient_flow.svg",
    log:
        "logs/figures/f5_gradient_flow.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="f5_gradient_flow",
    script:
        "../scripts/plot_figure.py"


rule plot_digits:
    input:
        runs="results/tables/runs.parquet",
        code=FIGURES_CODE,
    output:
        png=report(
            "results/figures/f6_digits.png",
            caption="../report/f6_digits.rst",
            category="E5 digits",
        ),
        svg="results/figures/f6_digits.svg",
    log:
        "logs/figures/f6_digits.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        figure="f6_digits",
    script:
        "../scripts/plot_figure.py"

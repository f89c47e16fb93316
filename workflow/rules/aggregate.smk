"""Per-cell tables -> the tidy tables under results/tables/ (see results/README.md)."""


rule aggregate_profiles:
    input:
        cells=get_profile_inputs,
        code=AGGREGATE_CODE,
    output:
        parquet="results/tables/gradient_profiles.parquet",
        csv="results/tables/gradient_profiles.csv",
    log:
        "logs/tables/gradient_profiles.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/aggregate_profiles.py"


rule fit_decay_rates:
    input:
        table="results/tables/gradient_profiles.parquet",
        code=AGGREGATE_CODE,
    output:
        parquet="results/tables/decay_rates.parquet",
        csv="results/tables/decay_rates.csv",
    log:
        "logs/tables/decay_rates.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/fit_decay_rates.py"


rule aggregate_runs:
    input:
        cells=get_run_inputs,
        code=AGGREGATE_CODE,
    output:
        parquet="results/tables/runs.parquet",
        csv="results/tables/runs.csv",
    log:
        "logs/tables/runs.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        expected=get_expected_trials,
    script:
        "../scripts/aggregate_runs.py"


rule aggregate_curves:
    input:
        cells=get_curve_inputs,
        code=AGGREGATE_CODE,
    output:
        parquet="results/tables/curves.parquet",
        csv="results/tables/curves.csv",
    log:
        "logs/tables/curves.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/aggregate_curves.py"


rule compute_horizons:
    input:
        table="results/tables/runs.parquet",
        code=AGGREGATE_CODE,
    output:
        parquet="results/tables/horizons.parquet",
        csv="results/tables/horizons.csv",
    log:
        "logs/tables/horizons.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/compute_horizons.py"


rule compute_replications:
    input:
        table="results/tables/runs.parquet",
        code=[f"{LIBRARY}/replications.py", *MEASURES_CODE, *AGGREGATE_CODE],
    output:
        parquet="results/tables/replications.parquet",
        csv="results/tables/replications.csv",
    log:
        "logs/tables/replications.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        section=config["replications"],
        tier=config["tier"],
    script:
        "../scripts/compute_replications.py"

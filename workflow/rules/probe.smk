"""E1: gradient-through-time profiles at initialisation of the trials of one job."""


rule probe_trials:
    input:
        data=get_data_inputs,
        cells=get_cell_sources,
        kernels=ancient("results/kernels.json"),
    output:
        runs="results/cells/{experiment}/{job}/runs.parquet",
        profiles="results/cells/{experiment}/{job}/profiles.parquet",
    log:
        "logs/cells/{experiment}/{job}.log",
    benchmark:
        "results/benchmarks/jobs/{experiment}/{job}.tsv"
    wildcard_constraints:
        experiment="|".join(PROBE_EXPERIMENTS),
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        trials=get_trials,
    script:
        "../scripts/run_job.py"

"""E2-E5 and the replications: train the trials of one job (every lr x seed x clip setting of a
trial as one batched ensemble), the trials one after another."""


rule train_trials:
    input:
        after=get_ladder_inputs,
        data=get_data_inputs,
        cells=get_cell_sources,
        kernels=ancient("results/kernels.json"),
    output:
        runs="results/cells/{experiment}/{job}/runs.parquet",
        curves="results/cells/{experiment}/{job}/curves.parquet",
        profiles="results/cells/{experiment}/{job}/profiles.parquet",
    log:
        "logs/cells/{experiment}/{job}.log",
    benchmark:
        "results/benchmarks/jobs/{experiment}/{job}.tsv"
    wildcard_constraints:
        experiment="|".join(TRAIN_EXPERIMENTS),
    group:
        TRAIN_GROUP
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=get_mem_mb,
        runtime=get_runtime_min,
    params:
        trials=get_trials,
    script:
        "../scripts/run_job.py"

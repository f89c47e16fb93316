"""E2-E5: train every seed x clip setting of one grid cell as one batched ensemble per job."""


rule train_cell:
    output:
        runs="results/cells/{experiment}/{cell}/runs.parquet",
        curves="results/cells/{experiment}/{cell}/curves.parquet",
        profiles="results/cells/{experiment}/{cell}/profiles.parquet",
    log:
        "logs/cells/{experiment}/{cell}.log",
    wildcard_constraints:
        experiment=TRAIN_EXPERIMENTS,
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=get_mem_mb,
        runtime=60,
    params:
        spec=get_spec,
        variant=get_variant,
    script:
        "../scripts/run_cell.py"

"""E2-E5 and the replications: train the grid cells of one job (every seed x clip setting of a cell as one batched
ensemble), the cells one after another."""


rule train_cells:
    input:
        after=get_ladder_inputs,
        data=get_data_inputs,
        kernels=ancient("results/kernels.json"),
    output:
        runs="results/cells/{experiment}/{pack}/runs.parquet",
        curves="results/cells/{experiment}/{pack}/curves.parquet",
        profiles="results/cells/{experiment}/{pack}/profiles.parquet",
    log:
        "logs/cells/{experiment}/{pack}.log",
    benchmark:
        "results/benchmarks/jobs/{experiment}/{pack}.tsv"
    wildcard_constraints:
        experiment=TRAIN_EXPERIMENTS,
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=get_mem_mb,
        runtime=get_runtime_min,
    params:
        cells=get_cells,
    script:
        "../scripts/run_cells.py"

"""E1: gradient-through-time profiles at initialisation of the grid cells of one job."""


rule probe_cells:
    input:
        data=get_data_inputs,
        kernels=ancient("results/kernels.json"),
    output:
        runs="results/cells/{experiment}/{pack}/runs.parquet",
        profiles="results/cells/{experiment}/{pack}/profiles.parquet",
    log:
        "logs/cells/{experiment}/{pack}.log",
    benchmark:
        "results/benchmarks/jobs/{experiment}/{pack}.tsv"
    wildcard_constraints:
        experiment="e1_init",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        cells=get_cells,
    script:
        "../scripts/run_cells.py"

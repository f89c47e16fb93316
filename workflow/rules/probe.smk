"""E1: gradient-through-time profiles at initialisation, one job per grid cell."""


rule probe_cell:
    output:
        runs="results/cells/{experiment}/{cell}/runs.parquet",
        profiles="results/cells/{experiment}/{cell}/profiles.parquet",
    log:
        "logs/cells/{experiment}/{cell}.log",
    wildcard_constraints:
        experiment="e1_init",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        spec=get_spec,
        variant=get_variant,
    script:
        "../scripts/run_cell.py"

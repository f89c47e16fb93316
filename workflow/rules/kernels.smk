"""The compiled kernels (rnnbench.kernels): built once, before any probe or training job, on the
machine that runs Snakemake (a localrule: on a cluster the login node, so compute nodes load the
shared cache and never build). The jobs wait for the record, ancient: a rebuild never retrains.
"""


localrules:
    build_kernels,


rule build_kernels:
    input:
        f"{LIBRARY}/kernels.cpp",
    output:
        "results/kernels.json",
    log:
        "logs/kernels.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    shell:
        "python -m rnnbench.cli kernels --record {output} 2>&1 | tee {log}"

"""Downloaded datasets (MNIST): fetched once, on the machine that runs Snakemake (a localrule:
on a cluster the login node, so compute nodes need no network), every file checked by its
SHA-256. The training jobs of tasks that read one depend on its record."""


localrules:
    fetch_data,


rule fetch_data:
    output:
        "results/data/{dataset}.json",
    log:
        "logs/data/{dataset}.log",
    wildcard_constraints:
        dataset=DATASETS,
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        data_dirs=get_data_dir_args,
    shell:
        "python -m rnnbench.cli data fetch {wildcards.dataset} {params.data_dirs} "
        "--record {output} 2>&1 | tee {log}"

"""The claims scorecard and the paper-style report: report/report.{md,html}, from tables only."""


rule render_report:
    input:
        tables=expand("results/tables/{name}.parquet", name=TABLES),
        figures=expand("results/figures/{name}.png", name=get_figures()),
        captions=[FIGURES[name].caption for name in get_figures()],
        code=REPORT_CODE,
    output:
        md="report/report.md",
        html=report(
            "report/report.html",
            caption="../report/report.rst",
            category="Report",
        ),
        claims=report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="Report",
        ),
        claims_parquet="results/tables/claims.parquet",
    log:
        "logs/report.log",
    conda:
        "../envs/rnnbench.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        config=config,
    script:
        "../scripts/render_report.py"


rule report:
    """Target: regenerate the report (and whatever it needs) from existing tables."""
    input:
        rules.render_report.output,

"""rnnbench.overhead: job wall time and compute time per job, the overhead against a hand count."""

import json

import pandas as pd
import pytest

from rnnbench import overhead
from rnnbench.cli import main
from rnnbench.errors import CorruptFileError

# A Snakemake 9 benchmark file: a header and one row per repeat; only `s` (wall seconds) is read.
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
ROW = "\t0:00:05\t330.56\t1838.22\t204.32\t246.47\t0.00\t0.19\t43.26\t2.53\n"  # after s
JOBS = {  # (experiment, pack): (job wall seconds, compute seconds)
    ("e1_init", "adding_T30_H8_lstm"): (2.5, 0.5),
    ("e3_long_range", "adding_T10_H8_lstm"): (4.0, 1.25),
    ("e3_long_range", "copy_T10_H8_lstm"): (6.5, 3.0),
}


def write_job(results, experiment, pack, job, compute) -> None:
    bench = results / "benchmarks/jobs" / experiment / f"{pack}.tsv"
    bench.parent.mkdir(parents=True, exist_ok=True)
    bench.write_text(HEADER + f"{job}{ROW}")
    meta = results / "cells" / experiment / pack / "runs.meta.json"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"spec": {}, "pack_id": pack, "compute_seconds": compute}) + "\n")


@pytest.fixture
def results(tmp_path):
    for (experiment, pack), (job, compute) in JOBS.items():
        write_job(tmp_path, experiment, pack, job, compute)
    return tmp_path


def test_job_times_and_summary_equal_a_hand_count(results):
    jobs = overhead.job_times(results)
    assert list(jobs.columns) == overhead.COLUMNS
    want = pd.DataFrame(
        [(e, c, j, k, j - k) for (e, c), (j, k) in sorted(JOBS.items())], columns=overhead.COLUMNS
    )
    pd.testing.assert_frame_equal(jobs, want)
    # wall 2.5 + 4 + 6.5 = 13, compute 0.5 + 1.25 + 3 = 4.75, overhead 8.25 s over 3 jobs
    assert overhead.summary(jobs) == {
        "jobs": 3,
        "total_job_seconds": 13.0,
        "total_compute_seconds": 4.75,
        "overhead_fraction": 8.25 / 13,
        "mean_overhead_seconds": 2.75,
    }


def test_cli_prints_the_summary_and_writes_the_csv(results, capsys):
    assert main(["overhead", "--results", str(results)]) == 0
    text = capsys.readouterr().out
    line = "3 jobs: 13.00 s job wall time, 4.75 s computing; overhead 63.5% (2.75 s per job)"
    assert line in text
    written = pd.read_csv(results / "benchmarks/pipeline.csv")
    pd.testing.assert_frame_equal(written, overhead.job_times(results))
    out = results / "elsewhere/jobs.csv"
    assert main(["overhead", "--results", str(results), "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 3


BAD_BENCHMARKS = {
    "empty": "",
    "no s column": "seconds\n1.0\n",
    "text": "s\nfast\n",
    "negative": "s\n-1.0\n",
    "NaN": "s\nnan\n",
    "two rows (repeat)": "s\n1.0\n2.0\n",
    "binary": b"\x89PNG\r\n\x1a\n\x00\xff\xfe",
}
BAD_METAS = {
    "missing key": '{"spec": {}}',
    "truncated": '{"compute_seconds": 1.',
    "a list": "[1.0]",
    "text": '{"compute_seconds": "1.0"}',
    "bool": '{"compute_seconds": true}',
    "infinite": '{"compute_seconds": Infinity}',
}


def _write(path, content) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


@pytest.mark.parametrize("content", BAD_BENCHMARKS.values(), ids=BAD_BENCHMARKS.keys())
def test_a_bad_benchmark_file_is_one_line_naming_it(results, capsys, content):
    path = results / "benchmarks/jobs/e3_long_range/copy_T10_H8_lstm.tsv"
    _write(path, content)
    assert main(["overhead", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rnnbench: error: {path}: ") and err.count("\n") == 1


@pytest.mark.parametrize("content", BAD_METAS.values(), ids=BAD_METAS.keys())
def test_a_bad_compute_record_is_one_line_naming_it(results, capsys, content):
    path = results / "cells/e1_init/adding_T30_H8_lstm/runs.meta.json"
    _write(path, content)
    assert main(["overhead", "--results", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rnnbench: error: {path}: ") and err.count("\n") == 1


def test_missing_files_are_named(results, tmp_path_factory):
    meta = results / "cells/e3_long_range/adding_T10_H8_lstm/runs.meta.json"
    meta.unlink()
    with pytest.raises(CorruptFileError, match=f"^{meta}: missing"):
        overhead.job_times(results)
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(CorruptFileError, match="no job benchmarks"):
        overhead.job_times(empty)


@pytest.mark.slow
def test_the_test_run_records_every_job(test_run):
    """Every probe and training job of the .test run has a benchmark and a compute time."""
    from rnnbench import grid
    from tests.test_pipeline import merged

    jobs = overhead.job_times(test_run / "results")
    expected = sorted((p.experiment, p.job_id) for p in grid.jobs(merged("test")))
    assert sorted(zip(jobs["experiment"], jobs["pack"], strict=True)) == expected
    assert (jobs["compute_seconds"] > 0).all()
    assert (jobs["compute_seconds"] < jobs["job_seconds"]).all()  # start-up is never free
    runs = pd.read_parquet(test_run / "results/tables/runs.parquet")
    packs = {c.trial_id: p.job_id for p in grid.jobs(merged("test")) for c in p.trials}
    runs["pack"] = runs["cell_id"].map(packs)
    trained = runs.groupby(["experiment", "pack"])["wall_seconds"].sum()  # the training loops
    compute = jobs.set_index(["experiment", "pack"])["compute_seconds"]
    assert (trained <= compute.loc[trained.index]).all()

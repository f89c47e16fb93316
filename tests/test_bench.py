"""A tiny run of `rnnbench bench`: the tables have their columns and finite positive numbers.

Timings are never asserted here (machine load makes them noisy); the benchmark reports them.
"""

import math
import platform
import subprocess
import sys

import pandas as pd
import pytest
import torch

from rnnbench import bench, benchsteps
from rnnbench.cli import main


def _tiny(tmp_path, **kw) -> bench.BenchConfig:
    return bench.BenchConfig(
        cells=("rnn", "lstm"),
        hidden_sizes=(8,),
        seq_lens=(5,),
        batch_size=4,
        models=2,
        threads=(1,),
        naive_threads=(1,),
        impls=("naive", "ensemble", "autograd", "eager", "aten"),
        rounds=1,
        round_seconds=0,
        profile_seq_len=5,
        scaling_seq_lens=(3, 6),
        scaling_hidden_sizes=(4, 8),
        pipeline_hidden_sizes=(4,),  # batch 32, T 100, 10 models, one thread
        out_dir=tmp_path,
        allocator="default",  # "steady" would last for the whole test process
        **kw,
    )


def test_benchmark_tables(tmp_path):
    tables = bench.benchmark(_tiny(tmp_path))
    training = tables["training"]
    assert list(training.columns) == bench.COLUMNS
    assert len(training) == 2 * 2 * 5  # (grid, pipeline shape) x cells x impls (eager, aten too)
    pipeline = training[training.batch_size == 32]
    assert set(pipeline.hidden_size) == {4} and set(pipeline.seq_len) == {100}
    assert set(pipeline.models) == {10} and set(pipeline.threads) == {1}
    numeric = training.drop(columns=["impl", "cell"])
    assert (numeric > 0).all().all() and numeric.map(math.isfinite).all().all()
    assert (
        training.roofline_fraction == training.model_steps_per_s / training.roofline_steps_per_s
    ).all()
    naive = training[training.impl == "naive"]
    assert (naive.speedup_vs_naive == 1).all()
    first = training.set_index(["cell", "impl"])["time_vs_first_cell"]  # timed in one round
    assert (first["rnn"] == 1).all()
    lstm = training[training.cell == "lstm"].set_index("impl")
    rate = training[training.cell == "rnn"].set_index("impl")["model_steps_per_s"]
    assert lstm["time_vs_first_cell"].to_numpy() == pytest.approx(
        (rate / lstm["model_steps_per_s"]).to_numpy()
    )
    assert set(tables["profile"].cell) == {"rnn", "lstm"}
    assert set(tables["profile"].hidden_size) == {8, 4}
    assert (tables["peak"][["tanh_gevals", "sigmoid_gevals"]] > 0).all().all()
    assert (tables["profile"][["profile_over_step"]] > 0).all().all()
    assert set(tables["scaling"].axis) == {"seq_len", "hidden_size"}
    assert (tables["peak"].allocator == "default").all()
    paths = bench.write_tables(tables, tmp_path / "training.csv")
    assert (tmp_path / "scaling.png").exists() and len(paths) == len(tables) + 1


def test_cli_writes_csv(tmp_path, capsys):
    out = tmp_path / "bench" / "training.csv"
    argv = ["bench", "--quick", "--cells", "rnn", "--hidden-sizes", "8", "--seq-lens", "4"]
    argv += ["--models", "2", "--batch-size", "3", "--threads", "1", "--rounds", "1"]
    argv += ["--round-seconds", "0"]
    argv += ["--profile-seq-len", "0", "--no-scaling", "--pipeline-hidden-sizes", "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out)
    assert list(table.columns) == bench.COLUMNS
    assert set(table.impl) == {"naive", "ensemble"}
    assert "speedup_vs_naive" in capsys.readouterr().out


def test_step_seconds_times_consecutive_steps_after_one_untimed():
    calls = []
    seconds = benchsteps.step_seconds(lambda: calls.append(1), torch.device("cpu"), 0)
    assert len(calls) == 2 and seconds >= 0  # one untimed, then at least one timed


FREE_64MB = """
import sys, torch
from rnnbench.bench import set_allocator
page = __import__("os").sysconf("SC_PAGE_SIZE")
def rss(): return int(open("/proc/self/statm").read().split()[1]) * page
print(set_allocator(sys.argv[1]))
x = torch.ones(16 << 20)  # 64 MB, above glibc's largest default mmap threshold
before = rss()
del x
print(before - rss() > 32 << 20)  # returned to the system at free
"""


@pytest.mark.skipif(platform.system() != "Linux", reason="glibc's malloc")
@pytest.mark.parametrize("mode,returned", [("steady", "False"), ("default", "True")])
def test_steady_allocator_keeps_freed_memory(mode, returned):
    """Steady: a freed 64 MB block stays in the process (the next step reuses it without page
    faults); glibc's default returns it. In a fresh process: the mode lasts for the process."""
    out = subprocess.run(
        [sys.executable, "-c", FREE_64MB, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [mode, returned]


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "indrnn"])
def test_roofline_counts_products_and_transcendentals(cell):
    """A closed form: 6 B T (R + G H (D+1)) flops at the sgemm peak plus B T H (tanh + sigmoid)
    evaluations at theirs, per model step (adding: D = 2; every cell with tanh)."""
    peaks = benchsteps.Peaks(sgemm=100.0, tanh=2.0, sigmoid=4.0)
    b, t, h = 32, 100, 16
    weights, gates, evals = {
        "rnn": (h * h, 1, (1, 0)),
        "lstm": (4 * h * h, 4, (2, 3)),
        "gru": (3 * h * h, 3, (1, 2)),
        "indrnn": (h, 1, (1, 0)),
    }[cell]
    seconds = 6 * b * t * (weights + gates * h * 3) / 100e9
    seconds += b * t * h * (evals[0] / 2e9 + evals[1] / 4e9)
    assert benchsteps.roofline_steps_per_s(cell, h, b, t, peaks) == pytest.approx(1 / seconds)


def test_pipeline_shapes_are_not_measured_twice():
    given = bench.BenchConfig(
        hidden_sizes=(16, 32),
        seq_lens=(100,),
        **{k: v for k, v in bench.PIPELINE.items() if k != "seq_lens"},
    )
    assert bench._pipeline(given) == []
    (extra,) = bench._pipeline(bench.BenchConfig())
    assert extra.hidden_sizes == (16, 32) and extra.batch_size == 32 and extra.threads == (1,)

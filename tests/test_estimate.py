"""Time estimates: the cost model's structure, the cluster time limit, `rnnbench estimate`."""

import dataclasses

import pytest

from rnnbench import resolve
from rnnbench.cli import main
from rnnbench.resources import estimate_seconds, runtime_minutes, step_seconds
from rnnbench.spec import TrialSpec


def spec(**train) -> TrialSpec:
    task, model = dict(name="adding", seq_len=100), dict(cell="lstm")
    return resolve.spec(TrialSpec, dict(task=task, model=model, train={"steps": 1000, **train}))


def test_estimate_grows_with_models_steps_and_gates():
    one, three = spec(seeds=[0]), spec(seeds=[0, 1, 2])
    assert estimate_seconds(three) == pytest.approx(3 * estimate_seconds(one))
    sweep = spec(seeds=[0], lr=[1e-3, 1e-2])
    assert estimate_seconds(sweep) == pytest.approx(2 * estimate_seconds(one))
    longer = spec(seeds=[0], steps=2000, log_every=100, check_every=100)
    shorter = spec(seeds=[0], steps=1000, log_every=50, check_every=50)  # same evaluations
    assert estimate_seconds(longer) - estimate_seconds(shorter) == pytest.approx(
        1000 * step_seconds(one)
    )
    rnn = dataclasses.replace(one, model=dataclasses.replace(one.model, cell="rnn"))
    assert step_seconds(rnn) < step_seconds(one)


def test_cluster_limit_doubles_the_estimate_and_grows_with_each_attempt():
    assert runtime_minutes(0) == 1
    assert runtime_minutes(600) == 21 and runtime_minutes(600, attempt=3) == 63


def test_estimate_command_prints_every_training_job_and_the_totals(capsys):
    assert main(["estimate", "--jobs"]) == 0
    out = capsys.readouterr().out.splitlines()
    jobs = [line for line in out if line.startswith("results/cells/")]
    assert jobs and all("e1_init" not in line and "(limit " in line for line in jobs)
    assert any(line.startswith("e3_long_range: ") for line in out)
    assert out[-1].startswith("all training: ") and "core-hours" in out[-1]

"""Bring your own cell: the example of docs/custom-cell.md, run by its documented commands, and
the one-line errors for a cell that cannot be used."""

import shutil
import subprocess

import pandas as pd
import pytest

from rnnbench import cells, resolve
from rnnbench.errors import SpecError
from rnnbench.spec import TrialSpec
from tests.workflow import ROOT, copy_workflow, documented_block, isolated_env


@pytest.mark.slow
def test_the_documented_example_runs_through_cli_and_pipeline(tmp_path):
    work = copy_workflow(tmp_path / "work")
    shutil.copytree(ROOT / "examples", work / "examples")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", documented_block("custom_cell")],
        cwd=work, capture_output=True, text=True, timeout=1200, env=isolated_env(work),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    train = pd.read_parquet(work / "results/mgu/train/runs.parquet")
    assert set(train["cell_label"]) == {"MGU"} and set(train["gradient_path"]) == {"autograd"}
    assert len(train) == 6 and train["final_loss"].notna().all()
    probe = pd.read_parquet(work / "results/mgu/probe/profiles.parquet")
    assert probe["log10_grad_norm"].notna().all() and probe["seed"].nunique() == 5

    runs = pd.read_parquet(work / "results/tables/runs.parquet")
    mgu = runs[runs["cell"] == "mycells:MGU"]
    assert set(mgu["variant"]) == {"mgu"} and set(mgu["cell_label"]) == {"MGU"}
    horizons = pd.read_parquet(work / "results/tables/horizons.parquet")
    assert "mgu" in set(horizons["variant"])
    profiles = pd.read_parquet(work / "results/tables/gradient_profiles.parquet")
    assert "mgu-orthogonal-rho1" in set(profiles["variant"])
    report = (work / "report/report.md").read_text()
    assert "mgu" in report
    for figure in ("f1_gradient_decay", "f4_horizons"):
        assert (work / f"results/figures/{figure}.png").stat().st_size > 0


class NoStep(cells.Cell):
    name, label = "nostep", "NoStep"


class NotACell:
    pass


class Broken(cells.Cell):
    name, label = "broken", "Broken"

    def __init__(self):
        raise RuntimeError("no GPU here\nsecond line")

    def init_recurrent(self, spec, gen):
        return {}

    def step(self, model, state, xp_t):
        return state


@pytest.mark.parametrize(
    "name,words",
    [
        ("transformer", "model.cell: unknown value 'transformer'"),
        ("no_such_module:Cell", "model.cell: cannot import 'no_such_module:Cell'"),
        ("tests.test_custom_cell:Missing", "model.cell: cannot import"),
        ("tests.test_custom_cell:NotACell", "is not a subclass of rnnbench.cells.Cell"),
        ("tests.test_custom_cell:NoStep", "does not define init_recurrent, step"),
        (
            "tests.test_custom_cell:Broken",
            "'tests.test_custom_cell:Broken'() failed (RuntimeError: no GPU here)",
        ),
    ],
)
def test_an_unusable_cell_is_one_line_naming_the_key(name, words):
    with pytest.raises(SpecError) as err:
        resolve.spec(TrialSpec, {"model": {"cell": name}})
    message = str(err.value)
    assert words in message and "\n" not in message


def test_a_cell_by_import_path_is_the_same_object_each_time():
    cell = cells.get("rnnbench.cells.indrnn:IndRNN")
    assert cell is cells.get("rnnbench.cells.indrnn:IndRNN") and cell.label == "IndRNN"


def test_a_module_that_fails_on_import_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "badcells.py").write_text("import torch\nundefined_name + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SpecError) as err:
        resolve.spec(TrialSpec, {"model": {"cell": "badcells:Cell"}})
    assert str(err.value) == (
        "model.cell: cannot import 'badcells:Cell' "
        "(NameError: name 'undefined_name' is not defined)"
    )

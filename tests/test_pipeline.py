"""The Snakemake pipeline: config schema and grid (fast), and whole-workflow runs (marked slow).

The slow tests use the .test config run end to end (the session fixture `test_run` in conftest.py),
check every table's schema and invariants, then check that Snakemake reruns only what a change
touches, on a copy of that run.
"""

import copy
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from rnnbench import aggregate, grid, kernels
from rnnbench import config as pipeline_config
from rnnbench.errors import SpecError
from rnnbench.experiments import EXPERIMENTS, FIGURES
from rnnbench.tables import read_meta
from rnnbench.train import members
from tests.workflow import copy_workflow

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow/schemas/config.schema.yaml"
CONFIGS = {
    "default": ROOT / "config/config.yaml",
    "paper": ROOT / "config/paper.yaml",
    "test": ROOT / ".test/config/config.yaml",
}
STATUSES = set(aggregate.STATUSES)


def load(name: str) -> dict:
    return yaml.safe_load(CONFIGS[name].read_text())


def merged(name: str) -> dict:
    """What Snakemake sees: the default config merged with the --configfile one, validated."""
    return pipeline_config.load(None if name == "default" else CONFIGS[name])


# -- config and grid (fast) -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_config_builds_unique_readable_cell_ids(name):
    jobs = grid.trials(merged(name))
    keys = [f"{j.experiment}/{j.trial_id}" for j in jobs]
    assert len(keys) == len(set(keys))
    expected = set(EXPERIMENTS) - ({"replications"} if name != "test" else set())
    assert {j.experiment for j in jobs} == expected  # .test also runs one replication
    assert all(" " not in k and "/" not in j.trial_id for k, j in zip(keys, jobs, strict=True))


def test_cell_ids_are_derived_from_the_grid_values():
    ids = {j.trial_id for j in grid.trials(merged("default"))}
    assert "adding_T40_H16_lstm" in ids
    assert "adding_T200_H64_rnn-sigmoid-orthogonal-rho1.1" in ids
    assert "adding_T200_H64_lstm-default-fb0" in ids
    assert "temporal_order_T160_H16_irnn" in ids


def test_changing_one_grid_point_changes_only_its_jobs():
    before = merged("default")
    after = copy.deepcopy(before)
    after["e3_long_range"]["seq_len"] = [
        100 if t == 80 else t for t in after["e3_long_range"]["seq_len"]
    ]
    old = {(p.experiment, p.job_id): p.params() for p in grid.jobs(before)}
    new = {(p.experiment, p.job_id): p.params() for p in grid.jobs(after)}
    changed = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
    assert changed and all(k[0] == "e3_long_range" for k in changed)
    # T = 160 changes too: its horizon ladder now reads the T = 100 cells
    assert {k[1].split("_H")[0].rsplit("_", 1)[1] for k in changed} == {"T80", "T100", "T160"}


def test_a_job_runs_every_variant_of_a_grid_point_or_one_cell():
    config = merged("default")
    cells = grid.trials(config)
    packs = grid.jobs(config)
    assert [c for p in packs for c in p.trials] == cells  # every cell once, in grid order
    for pack in packs:
        assert {(c.experiment, c.grid_point) for c in pack.trials} == {
            (pack.experiment, pack.job_id)
        }
    assert len(packs) == len({(c.experiment, c.grid_point) for c in cells}) < len(cells)
    single = grid.jobs({**config, "pack": "trial"})
    assert [(p.job_id, p.trials) for p in single] == [(c.trial_id, (c,)) for c in cells]
    with pytest.raises(
        SpecError, match=r"pack: unknown value 'variant' \(expected one of: grid_point, trial\)"
    ):
        grid.jobs({**config, "pack": "variant"})


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("e3_long_range", "colour"), "red", ["e3_long_range.colour: unknown key"]),
        (("e2_clipping", "seq_len"), [], ["e2_clipping.seq_len: expected a non-empty list"]),
        (("e2_clipping", "seq_len"), [0], ["e2_clipping.seq_len[0]: must be >= 1, got 0"]),
        (("e3_long_range", "train", "lr"), "fast", ["train.lr: expected float, got str"]),
        (("e1_init", "models", 0, "nonlinearity"), "softplus", ["unknown value 'softplus'"]),
        (("e2_clipping", "train", "clipping", 0, "mode"), "max", ["clipping[0].mode", "'max'"]),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file_key_and_value(tmp_path, path, value, words):
    config = load("default")
    target = config
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({path[0]: config[path[0]]}))
    with pytest.raises(SpecError) as err:
        pipeline_config.load(mine)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{mine}: {path[0]}")
    assert all(w in text for w in words), text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["e5_digits"].update(seq_len=[50]), "e5_digits.seq_len"),
        (lambda c: c["e3_long_range"]["models"][0].update(rho=[1.0, 1.1]), "models[0].name"),
        (lambda c: c["e3_long_range"]["models"][1].update(name="rnn-tanh"), "rnn-tanh"),
    ],
)
def test_grid_rejects_what_the_schema_cannot_see_naming_the_key(edit, message):
    config = merged("default")
    edit(config)
    with pytest.raises(SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        grid.trials(config)


# -- whole workflow (slow) --------------------------------------------------------------------


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["snakemake", "--cores", "2", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory) -> Path:
    """The workflow (Snakefile, rules, configs, library sources) copied to a scratch folder."""
    return copy_workflow(tmp_path_factory.mktemp("workflow"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["default", "paper"])
def test_dry_run(workflow_copy, name):
    args = ["-n", "--quiet", "rules"]
    if name != "default":
        args += ["--configfile", str(CONFIGS[name])]
    result = snakemake(workflow_copy, *args)
    assert result.returncode == 0, result.stderr
    assert "train_trials" in result.stdout + result.stderr


@pytest.mark.slow
def test_lint(workflow_copy):
    result = snakemake(workflow_copy, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


@pytest.mark.slow
def test_bad_config_stops_before_any_job(workflow_copy, tmp_path):
    bad = load("test")
    bad["e3_long_range"]["models"][0]["nonlinearity"] = "softplus"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    result = snakemake(workflow_copy, "--configfile", str(path))
    assert result.returncode != 0
    assert "softplus" in result.stderr and "nonlinearity" in result.stderr
    assert not (workflow_copy / "results").exists()

    bad = load("test")
    bad["e5_digits"]["seq_len"] = [50]  # valid for the schema, not for the task
    path.write_text(yaml.safe_dump(bad))
    result = snakemake(workflow_copy, "--configfile", str(path))
    assert result.returncode != 0
    assert "invalid config: " in result.stderr  # naming the file that set it, then the key
    assert "bad.yaml: e5_digits.seq_len: digits reads 8x8 images" in result.stderr
    assert not (workflow_copy / "results").exists()


def table(run: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(run / f"results/tables/{name}.parquet")


@pytest.mark.slow
def test_every_table_and_figure_is_written(test_run):
    for name in aggregate.TABLES:
        for ext in ("parquet", "csv", "meta.json"):
            assert (test_run / f"results/tables/{name}.{ext}").stat().st_size > 0
    for name in FIGURES:
        assert (test_run / f"results/figures/{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert b"<svg" in (test_run / f"results/figures/{name}.svg").read_bytes()[:1000]
    log = (test_run / "logs/cells/e3_long_range/adding_T5_H8.log").read_text()
    assert "step 0/20 live=4/4" in log and "left<=" in log  # progress lines of each cell
    assert "adding_T5_H8_lstm]" in log and "adding_T5_H8_rnn-tanh]" in log
    longer = (test_run / "logs/cells/e3_long_range/adding_T10_H8.log").read_text()
    assert longer.count("] done: ") + longer.count("] skipped: every seed failed at T = 5") == 2
    expected = [kernels.lstm_cell_name(torch.device("cpu"))]  # as the jobs resolved it
    for name in ("runs", "horizons"):  # a job's table, and one computed from it
        assert read_meta(test_run / f"results/tables/{name}.parquet")["versions"]["lstm_cell"] == (
            expected
        ), name


@pytest.mark.slow
def test_runs_hold_every_grid_point_exactly_once(test_run):
    runs = table(test_run, "runs")
    assert list(runs.columns[: len(aggregate.RUN_COLUMNS)]) == aggregate.RUN_COLUMNS
    expected = []
    for job in grid.trials(merged("test")):
        if job.kind == "train":
            for lr, clip, seed in members(job.spec):
                expected.append((job.experiment, job.trial_id, lr, seed, clip.mode, clip.label))
    key = ["experiment", "cell_id", "lr", "seed", "clip", "clip_setting"]
    got = list(runs[key].itertuples(index=False, name=None))
    assert sorted(got) == sorted(expected)
    assert set(runs["status"]) <= STATUSES
    assert (runs["diverged_step"].notna() == (runs["status"] == "diverged")).all()
    e2 = runs[runs["experiment"] == "e2_clipping"]
    assert (e2.loc[e2["clip"] == "none", "status"] == "diverged").all()  # linear, rho 1.5


@pytest.mark.slow
def test_baselines_equal_their_closed_forms(test_run):
    runs = table(test_run, "runs")
    closed = {
        "adding": lambda r: 1 / 6,
        "adding_symmetric": lambda r: 2 / 3,
        "copy": lambda r: r.recall * math.log(r.alphabet) / (r.seq_len + 2 * r.recall),
        "copy_recall": lambda r: math.log(r.alphabet),  # a uniform guess of each recalled symbol
        "temporal_order": lambda r: math.log(4),
        "digits": lambda r: math.log(10),
        "digits_permuted": lambda r: math.log(10),
    }
    for row in runs.itertuples():
        assert row.baseline_loss == pytest.approx(closed[row.task](row), rel=1e-12)


@pytest.mark.slow
def test_profiles_decay_rates_curves_and_horizons(test_run):
    profiles = table(test_run, "gradient_profiles")
    assert list(profiles.columns[: len(aggregate.PROFILE_COLUMNS)]) == aggregate.PROFILE_COLUMNS
    e1 = profiles[profiles["experiment"] == "e1_init"]
    per_model = e1.groupby(["cell_id", "seed"])["distance"].agg(["size", "nunique", "max"])
    assert (per_model["size"] == 31).all() and (per_model["nunique"] == 31).all()  # T = 30
    assert set(profiles["experiment"]) == {"e1_init", "e4_gradient_flow"}
    e4_steps = set(profiles.loc[profiles["experiment"] == "e4_gradient_flow", "step"])
    assert e4_steps == {0, 10, 20}

    rates = table(test_run, "decay_rates").set_index("cell_id")
    linear = rates[(rates["nonlinearity"] == "linear") & (rates["cell"] == "rnn")]
    for rho, slope in zip(linear["rho"], linear["slope_log10_per_step"], strict=True):
        assert slope == pytest.approx(math.log10(rho), abs=1e-6)  # exactly rho^d
    sig = rates[rates["nonlinearity"] == "sigmoid"]
    assert (sig["slope_log10_per_step"] < linear["slope_log10_per_step"].min()).all()

    curves = table(test_run, "curves")
    assert list(curves.columns[: len(aggregate.CURVE_COLUMNS)]) == aggregate.CURVE_COLUMNS
    assert not curves.duplicated(["experiment", "cell_id", "lr", "seed", "clip", "step"]).any()

    horizons = table(test_run, "horizons")
    runs = table(test_run, "runs")
    assert horizons["n_runs"].sum() == runs["selected"].sum()
    kept = [*aggregate.spec_fields(runs), "clip_setting"]  # every spec field, and the label
    assert set(kept) <= set(horizons) and set(kept) <= set(rates)
    assert horizons["success_rate"].between(0, 1).all()


@pytest.mark.slow
def test_reruns_only_what_a_change_touches(test_run, tmp_path):
    # a copy of the finished run (mtimes and Snakemake's records kept), so the shared one stays
    test_run = Path(shutil.copytree(test_run, tmp_path / "run", symlinks=True))
    config = ["--configfile", str(CONFIGS["test"])]
    result = snakemake(test_run, "-n", *config)
    assert "Nothing to be done" in result.stdout + result.stderr

    plotting = test_run / "src/rnnbench/plotting.py"
    plotting.write_text(plotting.read_text() + "\n")  # restyling: only plotting reruns
    result = snakemake(test_run, "-n", "--quiet", "rules", *config)
    text = result.stdout + result.stderr
    assert "plot_figure" in text and "train_trials" not in text and "aggregate_runs" not in text

    changed = load("test")
    changed["e3_long_range"]["seq_len"] = [5, 10, 12]  # adds T=12: only its cells train
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(changed))
    result = snakemake(test_run, "-n", "--configfile", str(path))
    text = result.stdout + result.stderr
    trained = {line.split("job=")[1] for line in text.splitlines() if "job=" in line}
    assert trained and all("_T12_" in job for job in trained)


@pytest.mark.slow
def test_snakemake_report_is_written(test_run, tmp_path):
    config = ["--configfile", str(CONFIGS["test"])]
    result = snakemake(test_run, "--report", str(tmp_path / "report.html"), *config)
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    assert len(html) > 10_000
    # One plot rule, yet each figure keeps its own category and caption (experiments.FIGURES).
    categories = json.loads(re.search(r"var categories = (\{.*?\});\n", html).group(1))
    for figure in FIGURES.values():
        assert f"results/figures/{figure.name}.png" in categories[figure.category]["Other"]
        title = re.match(r"\*\*(.+?)\*\*", (ROOT / figure.caption).read_text()).group(1)
        assert f"<strong>{title}</strong>" in html, figure.name

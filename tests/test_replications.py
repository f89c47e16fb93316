"""Replications: config/replications.yaml against the schema and the specs, the measures and the
verdict rule against hand computations, and a tiny-budget run of the whole replications
pipeline."""

import math
import subprocess

import numpy as np
import pandas as pd
import pytest
import yaml

from rnnbench import config as pipeline_config
from rnnbench import grid, replications, stats
from rnnbench.errors import SpecError
from rnnbench.measures import MEASURES, Sample
from rnnbench.replications import Tolerance
from rnnbench.verdicts import TARGET_VERDICTS
from rnnbench.verdicts import band_verdict as verdict
from tests.workflow import ROOT, copy_workflow, isolated_env

CONFIG = ROOT / "config/replications.yaml"


def config(tier: str = "laptop") -> dict:
    """config/config.yaml with config/replications.yaml merged over it, as Snakemake merges."""
    return pipeline_config.load(CONFIG, {"tier": tier})


def compute(measure: str, runs: pd.DataFrame, threshold: float = 0.04):
    """A measure's estimate and 95% interval over these runs."""
    m = MEASURES[measure].compute(Sample(runs, threshold=threshold))
    return m.effect, m.low, m.high


def section() -> dict:
    return yaml.safe_load(CONFIG.read_text())["replications"]


# --- the targets file ---------------------------------------------------------------------------


@pytest.mark.parametrize("tier", replications.TIERS)
def test_every_run_of_every_tier_is_a_valid_cell_and_the_config_fits_the_schema(tier):
    c = config(tier)
    jobs = grid.trials(c)
    assert {j.experiment for j in jobs} == {"replications"}  # `experiments` turns e1-e5 off
    rep = replications.load(c["replications"])
    expected = {
        replications.trial_id(name, t)
        for name in rep.runs
        if rep.trained(name, tier)
        for t in rep.lengths(name)
    }
    assert {j.trial_id for j in jobs} == expected
    packs = grid.jobs(c)
    assert all(len(p.trials) == 1 for p in packs)  # one job per replication cell
    if tier == "laptop":  # upper bound of the tier's cost (its measured time: benchmarks/)
        assert sum(p.estimated_seconds for p in packs) / 2 < 30 * 60


def test_targets_cover_the_issue_floor_and_each_cites_its_place():
    rep = replications.load(section())
    laptop = [t for t in rep.targets.values() if rep.trained(t.run, "laptop")]
    assert len(laptop) >= 8 and len({t.source for t in laptop}) >= 4
    assert len({t.source for t in rep.targets.values()}) >= 5
    for tid, t in rep.targets.items():
        assert t.place and t.unit and t.source in rep.sources, tid
        band = t.tolerance.band(t.published)
        assert band[0] <= t.published <= band[1], tid


@pytest.mark.parametrize(
    "where,value,message",
    [
        (("targets", "cai_adding_rnn_mse", "source"), "XYZ", "source: unknown value 'XYZ'"),
        (("targets", "cai_adding_rnn_mse", "run"), "nope", "run: unknown value 'nope'"),
        (("targets", "cai_adding_rnn_mse", "measure"), "mean", "measure: unknown value 'mean'"),
        (("targets", "cai_adding_rnn_mse", "place"), "", "place: every published value cites"),
        (("targets", "cai_adding_rnn_mse", "tolerance"), {}, "tolerance: give one of factor"),
        (("targets", "cai_adding_rnn_mse", "tolerance"), {"factor": 0.5}, "give one of factor"),
        (("targets", "cai_adding_rnn_mse", "tolerance"), {"factor": 2, "abs": 1}, "one of"),
        (("targets", "cai_adding_rnn_mse", "published"), -1, "published: no measure is negative"),
        (("targets", "cai_adding_rnn_mse", "measure"), "mean_test_error", "reads an accuracy"),
        (("targets", "cai_adding_rnn_mse", "seq_len"), 50, "seq_len: run 'cai_adding_rnn'"),
        (("targets", "cai_adding_rnn_mse", "colour"), 1, "cai_adding_rnn_mse.colour: unknown key"),
        (("runs", "cai_adding_rnn", "tier"), "huge", "cai_adding_rnn.tier: unknown value"),
        # a full-tier run is checked too, though the laptop tier does not train it
        (("runs", "hs97_adding_long", "model", "cell"), "lstmm", "hs97_adding_long.model.cell"),
        (("runs", "hs97_adding_long", "task", "seq_len"), [], "give one T or a list of distinct"),
        (("runs", "hs97_adding_long", "task", "seq_len"), [5, 5], "a list of distinct T"),
        (("runs", "hs97_adding_long", "task"), {}, "hs97_adding_long.task.name: required"),
        (
            ("runs", "hs97_adding_long", "train", "clipping"),
            [{"mode": "none"}, {"mode": "norm"}],
            "train.clipping: a replication run has one clip setting",
        ),
    ],
)
def test_a_bad_target_or_run_is_one_line_naming_its_key(where, value, message):
    data = section()
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    with pytest.raises(SpecError) as err:
        replications.load(data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_bad_cell_in_a_run_is_one_line_naming_the_run_before_any_job():
    c = config()
    c["replications"]["runs"]["cai_adding_rnn"]["task"]["seq_len"] = -5
    with pytest.raises(SpecError, match=r"replications\.runs\.cai_adding_rnn\.task\.seq_len"):
        pipeline_config.validated(c)
    c = config()
    c["experiments"] = ["replications", "e9"]
    with pytest.raises(SpecError, match=r"experiments\[1\]: unknown value 'e9'"):
        pipeline_config.validated(c)
    with pytest.raises(SpecError, match="tier: unknown value 'huge'"):
        config("huge")


# --- verdicts and measures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "low,high,expected",
    [
        (0.9, 1.1, "agrees"),  # inside the band [0.5, 2]
        (0.5, 2.0, "agrees"),  # its edges count as inside
        (2.5, 3.0, "disagrees"),
        (0.1, 0.4, "disagrees"),
        (0.4, 1.0, "inconclusive"),  # overlaps, wider than the band allows
        (1.0, math.inf, "inconclusive"),  # open above
        (2.1, math.inf, "disagrees"),  # a lower bound already above the band
        (math.nan, math.nan, "inconclusive"),  # one seed: no interval
    ],
)
def test_verdict_rule(low, high, expected):
    assert verdict(low, high, Tolerance(factor=2).band(1.0)) == expected


def test_tolerance_bands():
    assert Tolerance(factor=2).band(74000) == (37000, 148000)
    assert Tolerance(abs=0.2).band(1.0) == (0.8, 1.2)
    assert Tolerance(abs=0.5).band(0.0) == (0.0, 0.5)  # no measure is negative


def test_a_diverged_seed_is_the_worst_whatever_its_frozen_loss():
    r = runs_frame(status=["diverged", "solved"], final_loss=[0.001, 0.01], final_metric=[1, 0.9])
    assert compute("fraction_below", r, 0.04)[0] == 0.5
    assert compute("mean_test_error", r)[0] == pytest.approx((1 + 0.1) / 2)


def runs_frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = dict(
        status=["unsolved"] * n,
        final_loss=[0.5] * n,
        final_metric=[0.5] * n,
        baseline_loss=[1 / 6] * n,
        sequences_to_solve=pd.array([None] * n, dtype="Int64"),
        steps=[100] * n,
        batch_size=[32] * n,
    )
    return pd.DataFrame(base | columns)


def test_rates_are_wilson_intervals_of_the_seeds():
    r = runs_frame(status=["solved", "solved", "unsolved", "diverged"])
    est, low, high = compute("solved_fraction", r)
    assert est == 0.5 and (low, high) == pytest.approx(stats.wilson_interval(2, 4))
    r = runs_frame(final_loss=[0.01, 0.05, math.nan], baseline_loss=[0.1, 0.1, 0.1])
    assert compute("fraction_below", r, 0.04)[0] == 1 / 3
    # beating 0.9 x baseline: 0.01 and 0.05 do, a diverged (NaN) seed never does
    assert compute("fraction_below_baseline", r, 0.9)[0] == 2 / 3


def test_medians_count_a_diverged_seed_as_the_worst():
    r = runs_frame(final_loss=[0.1, 0.2, math.nan])
    est, low, high = compute("median_final_loss", r)
    assert est == 0.2 and low == 0.1 and high == math.inf
    r = runs_frame(final_metric=[0.9, 0.8, 0.7, 0.6])
    est, low, high = compute("mean_test_error", r)
    assert est == pytest.approx(0.25)
    assert (low, high) == pytest.approx(stats.bootstrap_interval(np.array([0.1, 0.2, 0.3, 0.4])))


def test_sequences_to_solve_censors_unsolved_seeds_at_their_budget():
    solved = pd.array([320, 640, 960], dtype="Int64")
    est, low, high = compute("mean_sequences_to_solve", runs_frame(sequences_to_solve=solved))
    assert est == 640 and np.isfinite(high) and low <= 640 <= high
    censored = pd.array([320, None, None], dtype="Int64")
    est, low, high = compute("mean_sequences_to_solve", runs_frame(sequences_to_solve=censored))
    assert est == pytest.approx((320 + 3200 + 3200) / 3) and high == math.inf  # a lower bound


def test_table_has_one_row_per_target_and_reports_untrained_runs_as_not_run():
    rep = section()
    cid = replications.trial_id("cai_adding_rnn", 100)
    runs = runs_frame(final_loss=[0.07, 0.065, 0.075, 0.072, 0.068]).assign(
        experiment="replications", cell_id=cid, selected=True, cell_label="RNN", lr=0.005
    )
    table = replications.table(runs, rep, "laptop").set_index("target")
    assert len(table) == len(rep["targets"])
    row = table.loc["cai_adding_rnn_mse"]
    assert row["n"] == 5 and row["ours"] == 0.07 and row["verdict"] == "agrees"
    assert row["lr"] == 0.005 and row["setting"].startswith("adding_symmetric T=100, RNN H=8")
    assert (row["band_low"], row["band_high"]) == (0.0353, 0.1412)
    assert table.loc["hs97_adding_T500_sequences", "verdict"] == "not run"  # full tier
    assert table.loc["cai_adding_lstm_mse", "verdict"] == "not run"  # no runs in the table
    assert set(table["verdict"]) <= set(TARGET_VERDICTS)


# --- the pipeline ---------------------------------------------------------------------------


@pytest.mark.slow
def test_the_laptop_tier_pipeline_runs_end_to_end_at_a_tiny_budget(tmp_path):
    work = copy_workflow(tmp_path / "work")
    tiny = {
        name: {
            "train": {"steps": 6, "log_every": 3, "check_every": 3, "seeds": [0, 1, 2]},
            "task": {"val_size": 8, "test_size": 16},
        }
        for name in section()["runs"]
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({"replications": {"runs": tiny}}))
    result = subprocess.run(
        ["snakemake", "--cores", "2", "--configfile", "config/replications.yaml",
         str(tmp_path / "tiny.yaml")],
        cwd=work, capture_output=True, text=True, timeout=900, env=isolated_env(work),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replications, tier laptop: 9 trials" in result.stderr
    table = pd.read_csv(work / "results/tables/replications.csv")
    rep = replications.load(section())
    assert list(table["target"]) == list(rep.targets)
    ran = table[table["tier"] == "laptop"]
    assert (ran["n"] == 3).all() and (ran["verdict"] != "not run").all()
    assert (table.loc[table["tier"] == "full", "verdict"] == "not run").all()
    runs = pd.read_parquet(work / "results/tables/runs.parquet")
    assert set(runs["experiment"]) == {"replications"} and len(runs) == 3 * (
        3 * 2 + 7  # two hs97 runs sweep 3 lrs; seven runs have one
    )
    report = (work / "report/report.md").read_text()
    assert "## Replications: published numbers beside ours" in report
    assert "Table 7, row T = 100" in report and "not in the configured grid" in report
    for name in ("f7_replications", "f8_replication_curves"):
        assert (work / f"results/figures/{name}.png").stat().st_size > 0
    assert not (work / "results/figures/f1_gradient_decay.png").exists()  # e1 is off

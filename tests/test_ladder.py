"""The horizon ladder: a variant's cell at T is skipped when every seed failed at its selected lr
at the next shorter T, and trained otherwise."""

import pandas as pd
import pytest

from rnnbench import execute, grid, resolve
from rnnbench import train as train_mod
from rnnbench.experiments import EXPERIMENTS
from rnnbench.spec import TrialSpec, to_dict
from rnnbench.tables import read_table, write_table

SPEC = dict(
    task=dict(name="adding", seq_len=8, val_size=16, test_size=16),
    model=dict(cell="rnn", hidden_size=4),
    train=dict(lr=[0.01, 0.03], steps=3, log_every=3, batch_size=4, seeds=[0, 1]),
)


def config(ladder: bool) -> dict:
    section = dict(
        tasks=["adding"], seq_len=[20, 5, 10], hidden_size=[4], ladder=ladder,
        models=[{"name": "rnn", "cell": "rnn"}, {"name": "lstm", "cell": "lstm"}],
        train=SPEC["train"],
    )  # fmt: skip
    probe = dict(tasks=["adding"], seq_len=[5], hidden_size=[4], models=[{"cell": "rnn"}],
                 seeds=[0], batch_size=4)  # fmt: skip
    train = [e.id for e in EXPERIMENTS.values() if e.kind == "train"]
    return {"experiments": ["e1_init", *train], "e1_init": probe, **dict.fromkeys(train, section)}


def test_each_cell_reads_its_variant_at_the_next_shorter_length():
    packs = {p.job_id: p for p in grid.jobs(config(True)) if p.experiment == "e3_long_range"}
    assert packs["adding_T5_H4"].inputs == []
    assert packs["adding_T10_H4"].inputs == [f"{packs['adding_T5_H4'].folder}/runs.parquet"]
    after = {c["cell_id"]: c["after"] for c in packs["adding_T20_H4"].params()}
    assert after["adding_T20_H4_lstm"]["cell_id"] == "adding_T10_H4_lstm"
    assert after["adding_T20_H4_rnn"]["runs"] == f"{packs['adding_T10_H4'].folder}/runs.parquet"
    plain = [p for p in grid.jobs(config(False)) if p.experiment == "e3_long_range"]
    assert all(not p.inputs and "after" not in c for p in plain for c in p.params())


def shorter(tmp_path, statuses, skipped_after=None) -> dict:
    """A shorter cell's runs (T = 4): lr 0.03 selected, with these statuses for its seeds."""
    rows = [
        dict(cell_id="short", seq_len=4, lr=lr, clip="none", clip_threshold=float("inf"),
             seed=seed, selected=lr == 0.03, skipped_after=skipped_after,
             status=statuses[seed] if lr == 0.03 else "solved")
        for lr in (0.01, 0.03) for seed in (0, 1)
    ]  # fmt: skip
    runs = pd.DataFrame(rows).astype({"skipped_after": "Int64"})
    write_table(runs, tmp_path / "short/runs", {})
    spec = to_dict(resolve.spec(TrialSpec, SPEC))
    after = {"cell_id": "short", "runs": str(tmp_path / "short/runs.parquet")}
    return dict(cell_id="long", variant="rnn", spec=spec, after=after)


def run(tmp_path, cell) -> pd.DataFrame:
    with open(tmp_path / "log", "w") as log:
        execute.run_job("e3_long_range", "pack", [cell], tmp_path / "job", log)
    return read_table(tmp_path / "job/runs.parquet")


def test_cell_after_an_all_failed_shorter_length_is_skipped(tmp_path, monkeypatch):
    def never(*args, **kw):
        raise AssertionError("a skipped cell must not train")

    monkeypatch.setattr(train_mod, "train_trial", never)
    # the unselected lr solved at T = 4, but the selected one failed every seed: skipped
    runs = run(tmp_path, shorter(tmp_path, ["unsolved", "diverged"]))
    assert len(runs) == 4 and (runs.status == "skipped").all()  # every lr x seed, one row each
    assert (runs.skipped_after == 4).all() and runs.final_loss.isna().all()
    assert runs.groupby("lr").selected.all().to_dict() == {0.01: False, 0.03: True}
    assert read_table(tmp_path / "job/curves.parquet").empty


def test_a_skip_carries_the_length_where_the_variant_first_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(train_mod, "train_trial", None)  # would fail if called
    runs = run(tmp_path, shorter(tmp_path, ["skipped", "skipped"], skipped_after=2))
    assert (runs.status == "skipped").all() and (runs.skipped_after == 2).all()


@pytest.mark.parametrize("statuses", [["solved", "unsolved"], ["diverged", "solved"]])
def test_cell_after_a_success_is_trained(tmp_path, statuses):
    runs = run(tmp_path, shorter(tmp_path, statuses))
    assert len(runs) == 4 and runs.status.isin(["solved", "unsolved", "diverged"]).all()
    assert runs.skipped_after.isna().all() and runs.final_loss.notna().all()

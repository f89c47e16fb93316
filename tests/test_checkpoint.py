"""Checkpoints resume to exactly the uninterrupted numbers; damaged files and oversize cells fail
with one line naming the file or key."""

import dataclasses

import pandas as pd
import pytest
import torch

from rnnbench import resolve
from rnnbench import train as train_mod
from rnnbench.errors import CorruptFileError, SpecError
from rnnbench.execute import run_job
from rnnbench.resources import estimate_mem_mb
from rnnbench.spec import TrialSpec, to_dict
from rnnbench.tables import read_table, write_table
from rnnbench.train import train_trial

SPEC = dict(
    task=dict(name="adding", seq_len=15, test_size=32),
    model=dict(cell="lstm", hidden_size=6),
    train=dict(
        optimizer="adam",
        lr=0.02,
        steps=12,
        log_every=3,
        profile_every=6,
        batch_size=8,
        seeds=[0, 1],
        clipping=[{"mode": "none"}, {"mode": "norm", "threshold": 0.1}],
    ),
    runtime=dict(checkpoint_every=4),
)


class Killed(Exception):
    pass


# Adding at a lenient criterion: with stopping and an lr sweep, models freeze at steps 35-50 and
# leave the live ensemble, so the kill after the fourth checkpoint (step 40) lands among them.
STOPPING = dict(
    task=dict(name="adding", seq_len=6, val_size=64, test_size=64, solved_loss_fraction=0.97),
    model=dict(cell="rnn", hidden_size=8, init="orthogonal"),
    train=dict(optimizer="adam", lr=[0.003, 0.03], steps=60, log_every=20, check_every=5,
               batch_size=16, seeds=[0, 1, 2], stop_when_solved=True),
    runtime=dict(checkpoint_every=10),
)  # fmt: skip


@pytest.mark.parametrize("raw,kill_after", [(SPEC, 2), (STOPPING, 4)], ids=["fixed", "stopping"])
def test_resume_after_kill_equals_uninterrupted(tmp_path, monkeypatch, raw, kill_after):
    spec = resolve.spec(TrialSpec, raw)
    reference = train_trial(spec)
    ckpt = tmp_path / "cell.ckpt"
    real_save = train_mod._save
    calls = []

    def save_then_die(path, *args):
        real_save(path, *args)
        calls.append(path)
        if len(calls) == kill_after:  # killed right after that checkpoint
            raise Killed

    monkeypatch.setattr(train_mod, "_save", save_then_die)
    with pytest.raises(Killed):
        train_trial(spec, checkpoint=ckpt)
    assert ckpt.exists()
    if raw is STOPPING:  # some models had left the live ensemble when it was killed
        live = torch.load(ckpt, weights_only=True)["live"]
        assert 0 < len(live) < len(reference.runs)
    monkeypatch.setattr(train_mod, "_save", real_save)
    resumed = train_trial(spec, checkpoint=ckpt)
    assert not ckpt.exists()  # deleted when the job finishes
    timing = ["wall_seconds"]
    pd.testing.assert_frame_equal(
        resumed.runs.drop(columns=timing), reference.runs.drop(columns=timing)
    )
    pd.testing.assert_frame_equal(resumed.curves, reference.curves)
    pd.testing.assert_frame_equal(resumed.profiles, reference.profiles)


def test_corrupt_checkpoint_names_file(tmp_path):
    spec = resolve.spec(TrialSpec, SPEC)
    ckpt = tmp_path / "cell.ckpt"
    ckpt.write_bytes(b"\x00garbage")
    with pytest.raises(CorruptFileError, match=r"cell.ckpt: unreadable checkpoint .* delete it"):
        train_trial(spec, checkpoint=ckpt)

    # A checkpoint left by an earlier version of the cell (another spec) is ignored: start over.
    other = resolve.spec(TrialSpec, {**SPEC, "train": {**SPEC["train"], "lr": [0.5]}})
    torch.save({"spec": {"other": 1}}, ckpt)
    lines = []
    fresh = train_trial(other, lines.append, checkpoint=ckpt)
    pd.testing.assert_frame_equal(fresh.curves, train_trial(other).curves)
    assert any("saved for a different spec" in line for line in lines) and not ckpt.exists()


def test_truncated_parquet_names_file(tmp_path):
    write_table(pd.DataFrame({"a": [1.0, 2.0]}), tmp_path / "runs", {"seed": 0})
    path = tmp_path / "runs.parquet"
    assert read_table(path).a.tolist() == [1.0, 2.0]
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CorruptFileError, match=r"runs.parquet: unreadable Parquet .* rerun"):
        read_table(path)
    with pytest.raises(CorruptFileError, match="missing"):
        read_table(tmp_path / "absent.parquet")


def test_oversize_cell_refused_before_training():
    big = resolve.spec(
        TrialSpec,
        dict(
            task=dict(name="adding", seq_len=1000),
            model=dict(cell="lstm", hidden_size=512),
            train=dict(seeds=list(range(16))),
            runtime=dict(max_mem_mb=8000),
        ),
    )
    assert estimate_mem_mb(big) > 8000
    with pytest.raises(SpecError, match=r"runtime.max_mem_mb: this cell needs ~\d+ MB"):
        train_trial(big)
    small = resolve.spec(TrialSpec, SPEC)
    assert estimate_mem_mb(small) < estimate_mem_mb(big)


def test_cell_larger_than_the_machine_is_refused_before_allocating(monkeypatch):
    """H = 40000 is 6.4 GB per weight copy: refused by the memory this machine has, whatever
    max_mem_mb allows, before a weight is drawn."""
    from rnnbench import models, resources

    huge = resolve.spec(TrialSpec, dict(model=dict(hidden_size=40000), train=dict(steps=1),
                                runtime=dict(max_mem_mb=10**9)))  # fmt: skip
    assert estimate_mem_mb(huge) > 40000  # the weights alone: 40000^2 x (8 + 4 x 4) bytes
    monkeypatch.setattr(resources, "available_mb", lambda: 20000)
    monkeypatch.setattr(models.Ensemble, "__init__", None)  # any allocation would fail here
    with pytest.raises(SpecError, match=r"above this machine's available memory \(20000 MB\)"):
        train_trial(huge)
    # where it cannot be read, max_mem_mb is the limit
    monkeypatch.setattr(resources, "available_mb", lambda: None)
    with pytest.raises(SpecError, match="above the limit runtime.max_mem_mb"):
        train_trial(dataclasses.replace(huge, runtime=resolve.spec(TrialSpec, {}).runtime))


def _pack(seq_lens):
    """Cells of one job (grid.Job.params) differing in T."""
    return [
        dict(
            cell_id=f"adding_T{t}",
            variant="lstm",
            spec=to_dict(resolve.spec(TrialSpec, {**SPEC, "task": {**SPEC["task"], "seq_len": t}})),
        )
        for t in seq_lens
    ]


def test_a_killed_job_keeps_the_cells_it_finished(tmp_path, monkeypatch):
    cells = _pack([5, 7, 9])
    with open(tmp_path / "log", "w") as log:
        run_job("e3_long_range", "pack", cells, tmp_path / "reference", log)
    real, trained = train_mod.train_trial, []

    def killed_at_third(spec, *args, **kw):
        if spec.task.seq_len == 9:
            raise Killed
        trained.append(spec.task.seq_len)
        return real(spec, *args, **kw)

    monkeypatch.setattr(train_mod, "train_trial", killed_at_third)
    folder = tmp_path / "job"
    with open(tmp_path / "log", "w") as log, pytest.raises(Killed):
        run_job("e3_long_range", "pack", cells, folder, log)
    assert sorted(p.name for p in (folder / "done").iterdir()) == ["adding_T5", "adding_T7"]
    assert not (folder / "runs.parquet").exists()

    def counted(spec, *args, **kw):
        trained.append(spec.task.seq_len)
        return real(spec, *args, **kw)

    monkeypatch.setattr(train_mod, "train_trial", counted)
    (folder / "done/adding_T7/runs.meta.json").write_text('{"spec": {}}')  # another spec's: redo
    with open(tmp_path / "log", "w") as log:
        run_job("e3_long_range", "pack", cells, folder, log)
    assert trained == [5, 7, 7, 9] and not (folder / "done").exists()
    for name in ("runs", "curves", "profiles"):
        pd.testing.assert_frame_equal(
            read_table(folder / f"{name}.parquet").drop(columns="wall_seconds", errors="ignore"),
            read_table(tmp_path / f"reference/{name}.parquet").drop(
                columns="wall_seconds", errors="ignore"
            ),
        )

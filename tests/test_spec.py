"""Bad specs are rejected with one line naming the field, before any training."""

import subprocess
import sys

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnbench import cli, resolve
from rnnbench.errors import SpecError
from rnnbench.spec import ProbeSpec, TrialSpec, describe

GOOD = {
    "task": {"name": "adding", "seq_len": 10},
    "model": {"hidden_size": 4},
    "train": {"steps": 1, "seeds": [0]},
}

BAD = [
    ({"tassk": {}}, "tassk: unknown key"),
    ({"model": {"hiden_size": 4}}, "model.hiden_size: unknown key"),
    ({"model": {"nonlinearity": "softsign"}}, "model.nonlinearity: unknown value 'softsign'"),
    ({"model": {"cell": "transformer"}}, "model.cell: unknown value"),
    ({"task": {"seq_len": 0}}, "task.seq_len: must be >= 1, got 0"),
    ({"task": {"seq_len": -5}}, "task.seq_len: must be >= 1, got -5"),
    ({"task": {"seq_len": "long"}}, "task.seq_len: expected int, got str"),
    ({"task": {"seq_len": 10.5}}, "task.seq_len: expected int, got float"),
    (
        {"train": {"clipping": [{"mode": "norm", "threshold": -1}]}},
        r"train.clipping\[0\].threshold: must be > 0, got -1.0",
    ),
    ({"train": {"clipping": [{"mode": "clamp"}]}}, r"train.clipping\[0\].mode: unknown value"),
    ({"train": {"lr": 0}}, "train.lr: must be > 0"),
    ({"train": {"lr": True}}, "train.lr: expected float, got bool"),
    ({"train": {"lr": float("nan")}}, "train.lr: must be finite"),
    ({"train": {"seeds": []}}, "train.seeds: expected a non-empty list"),
    ({"train": {"seeds": [1, 1]}}, "train.seeds: duplicate entries"),
    ({"train": {"seeds": 3}}, "train.seeds: expected a non-empty list"),
    ({"model": [1, 2]}, "model: expected a mapping, got list"),
]


def _merge(base, patch):
    out = {k: dict(v) for k, v in base.items()}
    for key, value in patch.items():
        out[key] = {**out.get(key, {}), **value} if isinstance(value, dict) else value
    return out


@pytest.mark.parametrize("patch,message", BAD)
def test_bad_spec_names_the_field(patch, message):
    with pytest.raises(SpecError, match=message) as err:
        resolve.spec(TrialSpec, _merge(GOOD, patch))
    assert "\n" not in str(err.value)


def test_good_spec_parses_and_every_key_is_documented():
    spec = resolve.spec(TrialSpec, GOOD)
    assert spec.task.seq_len == 10 and spec.train.clipping[0].mode == "none"
    assert all(help_ for _, help_, _ in describe(TrialSpec) + describe(ProbeSpec))


@pytest.mark.parametrize("patch,message", BAD[:6])
def test_cli_rejects_bad_spec_with_one_line(tmp_path, capsys, patch, message):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(_merge(GOOD, patch)))
    assert cli.main(["train", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("rnnbench: error: ")
    assert not (tmp_path / "out").exists()  # nothing trained, nothing written


def test_cli_rejects_task_constraints_before_training(tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(_merge(GOOD, {"task": {"name": "digits", "seq_len": 50}})))
    assert cli.main(["train", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "task.seq_len: digits reads 8x8 images" in capsys.readouterr().err


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(SpecError, match="nope.yaml: file not found"):
        resolve.load(TrialSpec, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: {name: adding\n  seq_len: [")
    with pytest.raises(SpecError, match=r"bad.yaml: not valid YAML \(line 2\)"):
        resolve.load(TrialSpec, bad)


def test_cli_end_to_end_and_help(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(_merge(GOOD, {"train": {"steps": 3, "log_every": 1}})))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "rnnbench.cli",
            "train",
            str(path),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    for name in ("runs", "curves", "profiles"):
        assert (tmp_path / "out" / f"{name}.parquet").stat().st_size > 0
        assert (tmp_path / "out" / f"{name}.csv").stat().st_size > 0
    for sub in ("train", "probe"):
        out = subprocess.run(
            [sys.executable, "-m", "rnnbench.cli", sub, "--help"], capture_output=True, text=True
        )
        assert out.returncode == 0 and "spec" in out.stdout


KEYS = [k for k, _, _ in describe(TrialSpec)]
junk = st.one_of(
    st.text(max_size=5),
    st.integers(-(10**6), 0),
    st.floats(allow_nan=True, allow_subnormal=False),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(KEYS), value=junk)
def test_fuzzed_values_fail_cleanly(key, value):
    section, name = key.split(".", 1)
    try:
        resolve.spec(TrialSpec, _merge(GOOD, {section: {name: value}}))
    except SpecError as err:
        assert str(err).startswith(key) and "\n" not in str(err)

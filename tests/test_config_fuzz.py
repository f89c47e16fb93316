"""Bad pipeline configs: junk in any key is either still valid or rejected before any job by one
line naming the key; the pipeline and `rnnbench train` say the same words for the same mistake;
the pipeline itself prints that one line."""

import copy
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnbench import config as pipeline_config
from rnnbench import grid, resolve
from rnnbench.errors import SpecError
from rnnbench.spec import TrialSpec
from tests.workflow import ROOT, copy_workflow, isolated_env

BASE = yaml.safe_load((ROOT / "config/config.yaml").read_text())
BASE.update(yaml.safe_load((ROOT / ".test/config/config.yaml").read_text()))


def leaves(node, path=()):
    """Every path to a scalar or list in the config."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list) and node and isinstance(node[0], dict):
        for i, value in enumerate(node):
            yield from leaves(value, (*path, i))
    else:
        yield path


PATHS = sorted(leaves(BASE), key=str)
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**9), 10**9), st.text(max_size=8),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False),
    st.lists(st.integers(-5, 5), max_size=3), st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)  # fmt: skip


def _set(config: dict, path, value) -> dict:
    config = copy.deepcopy(config)
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return config


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JUNK)
def test_junk_in_any_key_is_rejected_in_one_line_naming_it(path, value):
    try:
        grid.jobs(pipeline_config.validated(_set(BASE, path, value)))
    except SpecError as err:
        assert "\n" not in str(err)
        assert str(path[0]) in err.key or str(path[-1]) in err.key or "runtime" in err.key


def test_an_unknown_key_anywhere_is_rejected_naming_it():
    for path in PATHS[:: max(1, len(PATHS) // 25)]:
        parent = path[:-1]
        config = copy.deepcopy(BASE)
        node = config
        for key in parent:
            node = node[key]
        node["colour"] = "red"
        with pytest.raises(SpecError, match="colour: unknown key"):
            grid.jobs(pipeline_config.validated(config))


# The same mistake in a training section and in a `rnnbench train` spec: (key, value).
MISTAKES = [
    ("train.lrr", 0.1),  # misspelt key
    ("train.lr", "fast"),  # wrong type
    ("train.steps", -1),  # out of range
    ("train.seeds", []),  # empty list
    ("train.optimizer", "adamw"),  # unknown choice
    ("train.clipping", [{"mode": "max"}]),
    ("task.val_size", 0),
    ("task.colour", 1),
]


@pytest.mark.parametrize(("key", "value"), MISTAKES)
def test_the_pipeline_and_the_cli_say_the_same_for_the_same_mistake(key, value):
    block, name = key.split(".")
    cli = {"task": {"name": "adding", "seq_len": 10}, block: {name: value}}
    with pytest.raises(SpecError) as spec_err:
        resolve.spec(TrialSpec, cli)
    section = copy.deepcopy(BASE["e3_long_range"])
    section.setdefault(block, {})[name] = value
    with pytest.raises(SpecError) as config_err:
        pipeline_config.validated({**BASE, "e3_long_range": section})
    ours, theirs = config_err.value, spec_err.value
    assert ours.key == f"e3_long_range.{theirs.key}"
    if key == "task.colour":  # a section's task block has no name or seq_len: the grid gives them
        assert ours.reason.startswith("unknown key (expected one of: alphabet, recall")
    else:
        assert ours.reason == theirs.reason


@pytest.mark.slow
def test_snakemake_prints_one_line_naming_the_file_and_key(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    (work / "mine.yaml").write_text("e3_long_range:\n  train:\n    lr: fast\n")
    out = subprocess.run(
        ["snakemake", "-n", "--configfile", "mine.yaml"], cwd=work, capture_output=True,
        text=True, env=isolated_env(work), timeout=300,
    )  # fmt: skip
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if "invalid config" in line]
    assert errors == [
        "invalid config: mine.yaml: e3_long_range.train.lr: expected float, got str 'fast'"
    ]
    assert "Traceback" not in out.stderr

"""Property-based: a pipeline config with one value replaced by junk is either still valid or
rejected, before any job, by the schema or by a one-line SpecError naming the key; never by a
traceback from inside torch, numpy or pandas."""

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from rnnbench import grid
from rnnbench.errors import SpecError
from tests.workflow import ROOT

SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")
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


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JUNK)
def test_junk_in_any_key_is_rejected_cleanly(path, value):
    config = copy.deepcopy(BASE)
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    try:
        validate(config, SCHEMA)
        grid.trials(config)
    except WorkflowError as err:  # the schema's message names the offending instance
        assert "On instance" in str(err) or "validation" in str(err).lower()
    except SpecError as err:
        assert "\n" not in str(err)
        assert str(path[0]) in str(err) or str(path[-1]) in str(err) or "runtime" in str(err)


def test_unknown_key_anywhere_is_rejected():
    for path in PATHS[:: max(1, len(PATHS) // 25)]:
        config = copy.deepcopy(BASE)
        node = config
        for key in path[:-1]:
            node = node[key]
        node["colour"] = "red"
        try:
            validate(config, SCHEMA)
        except WorkflowError as err:
            assert "colour" in str(err)
        else:
            raise AssertionError(f"unknown key beside {path} was accepted")

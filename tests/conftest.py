import pytest
import torch

from rnnbench import runtime


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    runtime.setup(threads=1)
    yield


@pytest.fixture
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.fixture(scope="session")
def test_run(tmp_path_factory):
    """The .test config run end to end by `snakemake --cores 2`, once per test session: every test
    that only reads a .test run's outputs reads this one (copy it before changing anything)."""
    from tests.workflow import run_test_config

    return run_test_config(tmp_path_factory.mktemp("test_run"))

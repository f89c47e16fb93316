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
    """The .test config run end to end by `snakemake --cores 2`, once per test session."""
    import subprocess

    from tests.workflow import copy_workflow, isolated_env

    work = copy_workflow(tmp_path_factory.mktemp("test_run"))
    result = subprocess.run(
        ["snakemake", "--cores", "2", "--configfile", ".test/config/config.yaml"],
        cwd=work, capture_output=True, text=True, timeout=900, env=isolated_env(work),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return work

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

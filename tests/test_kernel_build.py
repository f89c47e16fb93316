"""The compiled kernels' build cache (kernel_build): one build per torch build, announced, and
never blocked by a killed build. The builds run in fresh processes on an empty cache folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnbench import kernel_build, kernels

CPU = torch.device("cpu")
ISA = kernels.ISA_FLAGS.get(torch.backends.cpu.get_cpu_capability())
BUILD = """
import sys, torch
from rnnbench import kernels
name = kernels.prepare(torch.device("cpu"))
assert name.startswith("fused-"), name
x = torch.randn(2, 3, 8)
assert torch.allclose(kernels.tanh(x, torch.empty_like(x)), torch.tanh(x), atol=1e-6)
print(name)
"""
needs_build = pytest.mark.skipif(ISA is None, reason="no AVX2/AVX-512: eager torch only")


def test_cache_key_changes_with_what_changes_the_binary(monkeypatch):
    flags = ["-O3", "-mavx2"]
    key = kernel_build.cache_key("avx2", flags, b"source")
    assert key == kernel_build.cache_key("avx2", list(flags), b"source")
    assert key != kernel_build.cache_key("avx2", flags, b"source 2")
    assert key != kernel_build.cache_key("avx512", flags, b"source")
    assert key != kernel_build.cache_key("avx2", [*flags, "-DX"], b"source")
    monkeypatch.setenv("CXX", "clang++")
    assert key != kernel_build.cache_key("avx2", flags, b"source")
    monkeypatch.delenv("CXX")
    monkeypatch.setattr(torch, "__version__", "2.99.0")
    assert key != kernel_build.cache_key("avx2", flags, b"source")


def test_prepare_tells_its_listener_and_stderr(monkeypatch, tmp_path, capsys):
    """A build's lines reach the job's log (prepare's say) and stderr."""

    def library(isa, cflags, ldflags, say):
        say("building the compiled kernels")
        raise OSError("c++: command not found")

    monkeypatch.setattr(kernel_build, "library", library)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    kernels._fused.cache_clear()
    heard = []
    try:
        with pytest.warns(UserWarning, match="did not build"):
            name = kernels.prepare(CPU, heard.append)
    finally:
        kernels._fused.cache_clear()
    assert name.startswith("eager (the fused kernels did not build (OSError: c++: command")
    assert heard == ["rnnbench: building the compiled kernels"]
    assert "rnnbench: building the compiled kernels" in capsys.readouterr().err
    assert kernels._LISTENERS == []


def _start(root: Path, pythonpath: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(root)}
    env.pop("RNNBENCH_KERNELS", None)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", BUILD], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen) -> tuple[str, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    return out, err


def _libraries(root: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in (root / "rnnbench").glob("*.so")}


MOMENTS = {  # a moment of the build -> whether it has come, given the cache folder
    "lock taken": lambda d: any(d.glob(".*.lock")),
    "compiling": lambda d: any(d.glob(".*.build-*/build.ninja")),
    "linking": lambda d: any(d.glob(".*.build-*/*.o")),
}


@pytest.mark.slow
@needs_build
def test_a_killed_build_never_blocks_the_next(tmp_path):
    """SIGKILL a build at several moments, one after another; the next build completes alone."""
    for moment, come in MOMENTS.items():
        proc = _start(tmp_path)
        deadline = time.monotonic() + 300
        while not come(tmp_path / "rnnbench") and proc.poll() is None:
            assert time.monotonic() < deadline, f"the build never reached {moment!r}"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the compiler too, as a job's time limit does
        proc.communicate()
        assert not _libraries(tmp_path), f"killed while {moment}, yet a library was published"
    out, err = _finish(_start(tmp_path))
    assert out.startswith("fused-") and "building the compiled kernels" in err
    assert len(_libraries(tmp_path)) == 1
    assert not list((tmp_path / "rnnbench").glob(".*.build-*")), "left-overs of killed builds"


@pytest.mark.slow
@needs_build
def test_two_processes_build_once_and_another_torch_path_reuses_it(tmp_path):
    first, second = _start(tmp_path), _start(tmp_path)
    (out1, err1), (out2, err2) = _finish(first), _finish(second)
    assert out1 == out2
    assert (err1 + err2).count("building the compiled kernels") == 1
    assert "waiting for another process's build" in (err2 if "building" in err1 else err1)
    built = _libraries(tmp_path)
    # Another environment: the same torch build at another path (a symlink first on the path).
    other = tmp_path / "other-env"
    other.mkdir()
    (other / "torch").symlink_to(Path(torch.__file__).parent)
    out, err = _finish(_start(tmp_path, str(other)))
    assert out == out1 and "building" not in err
    out, err = _finish(_start(tmp_path))  # and back: nothing rebuilt either way
    assert out == out1 and "building" not in err
    assert _libraries(tmp_path) == built

"""Compiled kernels: the LSTM cell's elementwise step, every cell's time loops, the probe.

One LSTM step is ~20 elementwise passes over (E, B, H) blocks in eager torch, each memory-bound;
`kernels.cpp` does the forward (and the backward) in one pass with ATen's vectorised math
(sigmoid as torch's; in float32 tanh from a polynomial and exp, within one float32 step of
torch's MKL tanh, Sleef's being slower). It also runs, one call each, the time loops of
the cells' training pass and of the gradient probe (`gradients`, its statistics in one pass per
state). At H > SMALL_HIDDEN the loops of the vanilla RNN, the LSTM and the GRU make the same ATen
calls as the cells' Python loops, which use the same `tanh`, so the numbers are the same to the bit
(the RNN's and GRU's tanh is the fused cell's too: torch's (MKL's) is slower on some CPUs).
At H <= SMALL_HIDDEN (the pipeline's sizes), where those per-step calls cost more than the
arithmetic, they take the small-size path: no ATen call per step, register-blocked products with
each model's weights in L1, the elementwise work fused, the weight gradients summed in the loop;
the numbers of the Python loops up to float rounding (`small`; `aten_loops()` or
RNNBENCH_SMALL=off keeps the ATen calls). IndRNN's loops and probe are elementwise, at any H.
It is compiled on first use for the widest instruction set that torch itself uses on this CPU,
AVX-512 or AVX2 (ATEN_CPU_CAPABILITY=avx2 caps both), once per source and torch build
(`kernel_build`: cached under $TORCH_EXTENSIONS_DIR, default ~/.cache/torch_extensions, safe under
kills and races; benchmarks/README.md says how long it takes), and used for CPU tensors.
Elsewhere (CUDA, a CPU without AVX2, no C++ compiler, RNNBENCH_KERNELS=eager) the Python loops
and the eager cell functions below compute the same numbers up to float rounding (1e-6 in
float32); `lstm_cell_name` says which build (or eager) runs, and every table made from a job that
trained or probed a model records it (`tables.provenance`).

Layout: z_t (E, B, 4H) holds one step's gates i, f, g, o in row order (as nn.LSTM); every
(E, B, H) argument is a view with contiguous rows. The forward also copies the next step's
inputs x (E, B, D) into x_out, the columns beside h in the joint input row
(`toolkit.joint_inputs`): written while that row is in cache, not in a pass of its own over the
whole (E, L, B, H+D+1) buffer.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from functools import cache

import torch

from . import kernel_build

aten = torch.ops.aten
ENV = "RNNBENCH_KERNELS"  # "auto" (default): the compiled kernels where they build; "eager": never
SMALL_ENV = "RNNBENCH_SMALL"  # "auto" (default): the small-size loops at H <= SMALL_HIDDEN; "off"
SMALL_HIDDEN = 32  # the largest hidden size of the small-size loops (kSmall in kernels.cpp)
ATEN_LOOPS = f"aten-loops (H <= {SMALL_HIDDEN})"  # recorded in USED when the small path is off
ISA_FLAGS = {  # torch's CPU capability -> the build's name and flags (as torch builds its kernels)
    "AVX512": ("avx512", ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma"]),
    "AVX2": ("avx2", ["-mavx2", "-mfma"]),
}


def lstm_forward_eager(a_t, z_t, c_prev, c_next, h_next, x, x_out) -> None:
    """a_t pre-activations -> z_t gate values; c_next = f c_prev + i g, h_next = o tanh(c_next);
    x_out = x."""
    hid = c_prev.shape[-1]
    torch.sigmoid(a_t[..., : 2 * hid], out=z_t[..., : 2 * hid])  # i, f
    torch.tanh(a_t[..., 2 * hid : 3 * hid], out=z_t[..., 2 * hid : 3 * hid])  # g
    torch.sigmoid(a_t[..., 3 * hid :], out=z_t[..., 3 * hid :])  # o
    i, f, g, o = z_t.split(hid, -1)
    torch.mul(f, c_prev, out=c_next).addcmul_(i, g)
    torch.mul(o, torch.tanh(c_next), out=h_next)
    x_out.copy_(x)


def lstm_backward_eager(dh, dc, z_t, c_t, c_prev) -> None:
    """dh = dLoss/dh_t; dc = dLoss/dc_t through c_{t+1} in, dLoss/dc_{t-1} out;
    z_t: gate values in, dLoss/d(pre-activations) out. tanh(c_t) is recomputed, not stored."""
    hid = dh.shape[-1]
    i, f, g, o = z_t.split(hid, -1)
    tc_t = torch.tanh(c_t)
    d_gates = torch.empty_like(z_t)  # dLoss/d(gate value)
    d_i, d_f, d_g, d_o = d_gates.split(hid, -1)
    torch.mul(dh, o, out=d_o)  # scratch: dLoss/d tanh(c_t)
    dc.add_(aten.tanh_backward(d_o, tc_t))
    torch.mul(dc, g, out=d_i)
    torch.mul(dc, c_prev, out=d_f)
    torch.mul(dc, i, out=d_g)
    torch.mul(dh, tc_t, out=d_o)
    dc.mul_(f)  # now dLoss/dc_{t-1}
    for d, y in ((d_gates[..., : 2 * hid], z_t[..., : 2 * hid]), (d_o, o)):
        aten.sigmoid_backward.grad_input(d, y, grad_input=y)
    aten.tanh_backward.grad_input(d_g, g, grad_input=g)


@cache
def _fused() -> tuple | str:
    """(name, operators) of the compiled kernels, or why they are not used (one line)."""
    mode = os.environ.get(ENV, "auto")
    if mode not in ("auto", "eager"):
        raise ValueError(f"{ENV}={mode!r}: expected 'auto' or 'eager'")
    if mode == "eager":
        return f"{ENV}=eager"
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ISA_FLAGS:
        return f"CPU capability {capability} (the kernel is built for AVX2 or AVX512)"
    isa, flags = ISA_FLAGS[capability]
    namespace = f"rnnbench_{isa}"  # one per build: a test may load both
    defines = [f"-DCPU_CAPABILITY_{capability}", f"-DCPU_CAPABILITY={capability}"]
    # at::parallel_for is OpenMP in torch's CPU build
    cflags = ["-O3", *flags, *defines, f"-DRNNBENCH_OPS={namespace}", "-fopenmp"]
    try:
        kernel_build.library(isa, cflags, ["-fopenmp"], _say)
    except Exception as err:  # no compiler, no ninja, a failed build: the eager path still works
        lines = str(err).splitlines() or [""]
        first = next((line for line in lines if "error:" in line), lines[0])  # the compiler's
        reason = f"the fused kernels did not build ({type(err).__name__}: {first.strip()})"
        warnings.warn(f"{reason}; using eager torch", stacklevel=3)
        return reason
    source = hashlib.sha256(kernel_build.SOURCE.read_bytes()).hexdigest()[:12]
    return f"fused-{isa}-{source}", getattr(torch.ops, namespace)


def _say(line: str) -> None:
    """A line about the kernels' build: on stderr (the console, a SLURM job's log) and to every
    listener `prepare` added (a pipeline job's log)."""
    for write in (lambda text: print(text, file=sys.stderr, flush=True), *_LISTENERS):
        write(f"rnnbench: {line}")


def prepare(device: torch.device, say: Callable[[str], None] | None = None) -> str:
    """Load (or build, once) the kernels for `device` now, telling say(line) about a build or a
    wait as well as stderr; -> `lstm_cell_name`."""
    if say is not None:
        _LISTENERS.append(say)
    try:
        return lstm_cell_name(device)
    finally:
        if say is not None:
            _LISTENERS.remove(say)


def _compiled(device: torch.device):
    """The compiled operators for tensors on `device`, or None; either way recorded in USED (every
    cell's numbers depend on which: the LSTM's cell, the loops, the RNN's and GRU's tanh)."""
    USED.add(lstm_cell_name(device))
    fused = _fused() if device.type == "cpu" and not _FORCED_EAGER else None
    return fused[1] if isinstance(fused, tuple) else None


def loops(device: torch.device):
    """The compiled time loops for tensors on `device` (the cells' `loss_and_grads`:
    ops.rnn_forward, rnn_backward, lstm_forward_loop, lstm_backward_loop, gru_forward,
    gru_backward, their *_small versions, indrnn_forward, indrnn_backward; `gradients`:
    rnn_probe, lstm_probe, gru_probe, indrnn_probe), or None: the Python loops."""
    return _compiled(device)


def small(hidden: int) -> bool:
    """Whether the compiled loops of the RNN, LSTM and GRU take the small-size path at this hidden
    size (H <= SMALL_HIDDEN, unless inside `aten_loops()` or with RNNBENCH_SMALL=off: then the
    loops with ATen calls per step, as at larger H, and the tables record it)."""
    if hidden > SMALL_HIDDEN:
        return False
    mode = os.environ.get(SMALL_ENV, "auto")
    if mode not in ("auto", "off"):
        raise ValueError(f"{SMALL_ENV}={mode!r}: expected 'auto' or 'off'")
    if _FORCED_ATEN or mode == "off":
        USED.add(ATEN_LOOPS)
        return False
    return True


def tanh(a: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """out = tanh(a), (E, B, W) with contiguous rows: the compiled loops' tanh (in float32 the fused
    cell's) where they run, so that the cells' Python loops compute their numbers; else torch's."""
    ops = _compiled(a.device)
    if ops is None:
        return torch.tanh(a, out=out)
    ops.tanh(a, out)
    return out


def lstm_cell(device: torch.device) -> tuple:
    """(forward, backward) step functions for tensors on `device` (signatures as the eager ones)."""
    ops = _compiled(device)
    if ops is None:
        return lstm_forward_eager, lstm_backward_eager
    return ops.lstm_forward, ops.lstm_backward


def lstm_cell_name(device: torch.device) -> str:
    """Which LSTM cell runs on `device`: 'fused-avx512-<hash>', 'fused-avx2-<hash>' (the first 12
    hex digits of kernels.cpp's sha256: the tables record which source computed them), or
    'eager (<why>)'."""
    if device.type != "cpu" or _FORCED_EAGER:
        return f"eager ({'forced' if _FORCED_EAGER else device.type})"
    fused = _fused()
    return fused[0] if isinstance(fused, tuple) else f"eager ({fused})"


@contextmanager
def eager():
    """Run the eager LSTM cell and the cells' Python loops inside the block (the benchmark's and the
    tests' comparison)."""
    global _FORCED_EAGER
    before, _FORCED_EAGER = _FORCED_EAGER, True
    try:
        yield
    finally:
        _FORCED_EAGER = before


@contextmanager
def aten_loops():
    """Inside the block the compiled loops make ATen calls per step at every hidden size, as
    before the small-size path (the benchmark's `aten` rows, the tests' comparison)."""
    global _FORCED_ATEN
    before, _FORCED_ATEN = _FORCED_ATEN, True
    try:
        yield
    finally:
        _FORCED_ATEN = before


_FORCED_EAGER = False
_LISTENERS: list[Callable[[str], None]] = []  # `prepare`'s say, while it runs
_FORCED_ATEN = False
USED: set[str] = set()  # the kernel builds (or eager) this process ran: tables.versions records
# them as `lstm_cell`, the LSTM's cell and every cell's loops and tanh

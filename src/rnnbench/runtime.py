"""Process set-up shared by every entry point: threads, denormals and the device."""

from __future__ import annotations

import torch

from .errors import SpecError


def setup(threads: int, device: str = "cpu") -> torch.device:
    """Fix the thread count, flush denormals and resolve the device; call before tensor work.

    Denormal floats appear in vanishing-gradient regimes and make a matmul orders of magnitude
    slower; so do two processes each using torch's default thread count.
    Flushing is per thread: torch's worker threads started before this call keep denormals
    (the compiled time loops run theirs with this thread's mode; other ops do not).
    """
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SpecError("runtime.device", "'cuda' requested but torch.cuda.is_available() is False")
    return torch.device(device)

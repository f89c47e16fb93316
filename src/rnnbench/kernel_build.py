"""The compiled kernels' shared object: built once per torch build, safe under kills and races.

The library is cached at `<root>/rnnbench/rnnbench_kernels_<isa>_<key>.so`, root being
$TORCH_EXTENSIONS_DIR or torch's default (~/.cache/torch_extensions). The key hashes everything
that changes the binary: kernels.cpp, the torch build (version, commit, C++ ABI, debug), Python's
ABI, the machine, the compiler (`$CXX`) and the flags. Environments with the same torch build share
one library; an environment with another torch gets its own and never rebuilds anyone else's.

A process finds the library and loads it (no compiler, no lock). Otherwise it takes an exclusive
`fcntl.flock` on `<key>.lock` (the operating system releases it when its holder exits or is
killed), looks again, builds with torch's `cpp_extension` in a private folder and renames the
library into place (atomic). A killed build leaves only its private folder, which the next builder
removes: no state that blocks a later build. A process that waits for another's build says so.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("kernels.cpp")
RECIPE = 1  # bump when the build recipe below changes in a way the key does not see
WAIT_NOTE_EVERY_S = 60.0  # a waiting process repeats its note this often
EXPECTED_BUILD_S = "about 20-60 s"
_LOADED: dict[str, Path] = {}  # the libraries this process has loaded, by name


def build_root() -> Path:
    """Where the libraries live: $TORCH_EXTENSIONS_DIR, else torch's default build root."""
    from torch.utils import cpp_extension

    root = os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()
    return Path(root) / "rnnbench"


def cache_key(isa: str, cflags: list[str], source: bytes) -> str:
    """16 hex digits of the sha256 of everything that changes the library's binary."""
    facts = dict(
        recipe=RECIPE,
        source=hashlib.sha256(source).hexdigest(),
        torch=torch.__version__,
        torch_commit=torch.version.git_version,
        torch_debug=torch.version.debug,
        cxx11_abi=torch._C._GLIBCXX_USE_CXX11_ABI,
        python=sys.implementation.cache_tag,
        machine=platform.machine(),
        compiler=os.environ.get("CXX", "c++"),
        isa=isa,
        cflags=cflags,
    )
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def library(isa: str, cflags: list[str], ldflags: list[str], say: Callable[[str], None]) -> Path:
    """The path of the library for `isa`, built now if no process has built it yet (and
    loaded into this process either way). say(line) tells what happens: build, wait."""
    source = SOURCE.read_bytes()
    name = f"rnnbench_kernels_{isa}_{cache_key(isa, cflags, source)}"
    if name in _LOADED:  # a second copy of the library would register its operators twice
        return _LOADED[name]
    root = build_root()
    final = root / f"{name}.so"
    if not final.exists():
        root.mkdir(parents=True, exist_ok=True)
        with _exclusive(root / f".{name}.lock", say):
            if not final.exists():  # nobody built it while this process waited
                _build(name, source, cflags, ldflags, final, say)  # loads it too
                _LOADED[name] = final
                return final
    torch.ops.load_library(str(final))
    _LOADED[name] = final
    return final


class _exclusive:
    """An exclusive flock on path for the block: the OS releases it if this process dies."""

    def __init__(self, path: Path, say: Callable[[str], None]):
        self.path, self.say = path, say

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        waited, since = 0.0, -WAIT_NOTE_EVERY_S
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if waited - since >= WAIT_NOTE_EVERY_S:
                    self.say(
                        f"waiting for another process's build of the compiled kernels "
                        f"({waited:.0f} s so far; lock {self.path})"
                    )
                    since = waited
                time.sleep(0.2)
                waited += 0.2

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock


def _build(name: str, source: bytes, cflags, ldflags, final: Path, say) -> None:
    """Compile and load in a private folder (left-overs of killed builds removed first), then
    copy the library to `final` by a rename: other processes see no library or a complete one."""
    from torch.utils import cpp_extension

    for stale in final.parent.glob(f".{name}.build-*"):  # their builders died: this holds the lock
        shutil.rmtree(stale, ignore_errors=True)
    for stale in final.parent.glob(f".{final.name}.tmp*"):
        stale.unlink(missing_ok=True)
    private = Path(tempfile.mkdtemp(prefix=f".{name}.build-", dir=final.parent))
    say(f"building the compiled kernels, once for this torch build ({EXPECTED_BUILD_S}): {final}")
    start = time.perf_counter()
    try:
        (private / "kernels.cpp").write_bytes(source)
        cpp_extension.load(
            name,
            [str(private / "kernels.cpp")],
            extra_cflags=cflags,
            extra_ldflags=ldflags,
            build_directory=str(private),
            is_python_module=False,
        )
        (built,) = private.glob(f"{name}*.so")  # torch names it name.so (name_v1 on a rebuild)
        tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
        shutil.copyfile(built, tmp)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    say(f"built the compiled kernels in {time.perf_counter() - start:.0f} s")

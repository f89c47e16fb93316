"""Tidy result tables: spec fields as columns, atomic Parquet + CSV writing, and safe reading.

Every written table carries its provenance (spec, seeds, package versions, and what ran it: the
cell's source hash, the git commit, the CPU, the BLAS and the thread count) in the Parquet schema
metadata under the key `rnnbench` and in a `<name>.meta.json` beside it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import CorruptFileError

NOT_RECORDED = ("checkpoint_every", "max_mem_mb")  # settings that never change a number


def spec_columns(spec) -> dict:
    """Flatten the scalar fields of a (nested) spec into table columns; task.name -> task."""
    out = {}
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if f.name in NOT_RECORDED:
            continue
        if dataclasses.is_dataclass(value):
            for key, inner in spec_columns(value).items():
                out["task" if (f.name, key) == ("task", "name") else key] = inner
        elif not isinstance(value, list | dict):  # a cell's params: param_<name> (train)
            out[f.name] = value
    return out


# What ran a trial, recorded at training time; a table made from others' keeps theirs (each a
# sorted list of the values its inputs recorded).
RAN = ("lstm_cell", "cell_source", "git", "cpu", "blas", "threads")


def versions(cell=None) -> dict[str, str | list[str]]:
    """Versions of everything that can change a number in the tables (without importing them);
    with the cell a trial ran (a `rnnbench.cells.Cell`), also what ran it (`ran`)."""
    out = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("rnnbench", "torch", "numpy", "pandas", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    kernels = sys.modules.get("rnnbench.kernels")  # the kernel build or eager, if a model ran
    if kernels is not None and kernels.USED:
        out["lstm_cell"] = sorted(kernels.USED)
    return out | (ran(cell) if cell is not None else {})


def ran(cell) -> dict[str, list[str]]:
    """What computes a trial's numbers besides the package versions: the hash of the cell's
    source (a plugin's module file; a built-in's, the rnnbench package source), the git commit
    of the working directory (and whether its tree was dirty), the CPU, the BLAS torch uses and
    torch's thread count."""
    torch = sys.modules["torch"]
    blas = re.search(r"BLAS_INFO=(\S+)", torch.__config__.show())
    return {
        "cell_source": [f"{cell.name} {source_hash(type(cell))}"],
        "git": [git_commit()],
        "cpu": [cpu_model()],
        "blas": [blas.group(1) if blas else "unknown"],
        "threads": [str(torch.get_num_threads())],
    }


def source_file(cls: type) -> Path:
    """The file that defines class cls."""
    return Path(inspect.getsourcefile(cls)).resolve()


def source_hash(cls: type) -> str:
    """sha256 of the source a cell's class runs: its module's file, or for rnnbench's own cells
    every source file of the package (a built-in's numbers depend on its toolkit and kernels)."""
    path = source_file(cls)
    package = Path(__file__).resolve().parent
    if package in path.parents:
        return _package_hash(package)
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@functools.cache
def _package_hash(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *package.rglob("*.cpp")]):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return "rnnbench-sha256:" + digest.hexdigest()[:16]


@functools.cache
def git_commit() -> str:
    """'<commit>' or '<commit> dirty' of the working directory's git repository ('no git' where
    it is none)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        commit, status = git("rev-parse", "HEAD"), git("status", "--porcelain", "-uno")
    except (OSError, subprocess.SubprocessError):
        return "no git"
    return f"{commit} dirty" if status else commit


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what the platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def merged_versions(metas) -> dict[str, str | list[str]]:
    """versions(), with what ran (`RAN`: the kernels, the cells' sources, commit, CPU, BLAS,
    threads) as recorded in these provenance records: tables made from other jobs' tables keep
    what those jobs ran."""
    out = versions()
    for key in RAN:
        values = set(out.get(key, [])).union(*(meta["versions"].get(key, []) for meta in metas))
        if values:
            out[key] = sorted(values)
    return out


def provenance(smk, table: str) -> dict:
    """What a pipeline table is made from: its name, the config (seeds included), versions, and
    what ran the jobs behind its input tables (`merged_versions`)."""
    metas = [read_meta(path) for path in smk.input if str(path).endswith(".parquet")]
    return {"table": table, "config": dict(smk.config), "versions": merged_versions(metas)}


def write_table(df: pd.DataFrame, path: str | Path, meta: dict) -> None:
    """Write df to path.parquet and path.csv (each via a temporary name, then an atomic rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(df, preserve_index=False)
    provenance = json.dumps(meta, sort_keys=True, default=str)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"rnnbench": provenance}
    )
    atomic_write(path.with_suffix(".parquet"), lambda tmp: pq.write_table(table, tmp))
    atomic_write(path.with_suffix(".csv"), lambda tmp: df.to_csv(tmp, index=False))
    atomic_write(
        path.with_suffix(".meta.json"), lambda tmp: Path(tmp).write_text(provenance + "\n")
    )


def atomic_write(path: Path, write) -> None:
    """Call write(tmp) on a temporary name beside path, then rename: no partial file at path."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet table written by `write_table`; a damaged file raises CorruptFileError."""
    path = Path(path)
    try:
        return pq.read_table(path).to_pandas()
    except FileNotFoundError:
        raise CorruptFileError(f"{path}: missing; rerun the step that writes it") from None
    except (pa.ArrowException, OSError) as err:
        raise CorruptFileError(
            f"{path}: unreadable Parquet ({type(err).__name__}); delete it and rerun "
            "(snakemake recreates it with --rerun-incomplete / --forcerun)"
        ) from None


def read_meta(path: str | Path) -> dict:
    """The provenance record of a table written by `write_table`."""
    meta = pq.read_schema(Path(path)).metadata or {}
    if b"rnnbench" not in meta:
        raise CorruptFileError(
            f"{path}: no rnnbench provenance record; rerun the step that writes it"
        )
    return json.loads(meta[b"rnnbench"])

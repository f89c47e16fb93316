"""Tidy result tables: spec fields as columns, atomic Parquet + CSV writing, and safe reading.

Every written table carries its provenance (spec, seeds, package versions) in the Parquet schema
metadata under the key `rnnbench` and in a `<name>.meta.json` beside it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
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
        elif not isinstance(value, list):
            out[f.name] = value
    return out


def versions() -> dict[str, str | list[str]]:
    """Versions of everything that can change a number in the tables (without importing them)."""
    out = {"python": platform.python_version(), "machine": platform.machine()}
    for pkg in ("rnnbench", "torch", "numpy", "pandas", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    kernels = sys.modules.get("rnnbench.kernels")  # the kernel build or eager, if a model ran
    if kernels is not None and kernels.USED:
        out["lstm_cell"] = sorted(kernels.USED)
    return out


def with_lstm_cells(metas) -> dict[str, str | list[str]]:
    """versions(), with the kernels (a build or eager) recorded in these provenance records:
    tables made from other jobs' tables keep what those jobs ran."""
    out = versions()
    used = set(out.get("lstm_cell", [])).union(
        *(meta["versions"].get("lstm_cell", []) for meta in metas)
    )
    if used:
        out["lstm_cell"] = sorted(used)
    return out


def provenance(smk, table: str) -> dict:
    """What a pipeline table is made from: its name, the config (seeds included), versions, and
    the LSTM cells that the jobs behind its input tables ran."""
    metas = [read_meta(path) for path in smk.input if str(path).endswith(".parquet")]
    return {"table": table, "config": dict(smk.config), "versions": with_lstm_cells(metas)}


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

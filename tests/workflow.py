"""Shared helpers for tests that run the Snakemake workflow in a scratch copy."""

import os
import re
import shutil
import subprocess
from pathlib import Path

from rnnbench.aggregate import TABLES  # noqa: F401  (re-exported for the integration tests)

ROOT = Path(__file__).resolve().parents[1]
TIMING_COLUMNS = ["wall_seconds"]  # the only columns allowed to differ between identical runs
WORKFLOW_FILES = ("Snakefile", "workflow", "config", ".test", "src", "profiles")
TEST_CONFIG = ".test/config/config.yaml"  # the tiny grid CI runs end to end
CUSTOM_CELL_DOC = ROOT / "docs/custom-cell.md"


def documented_block(example: str) -> str:
    """The one bash block of docs/custom-cell.md that runs examples/<example>."""
    blocks = re.findall(r"```bash\n(.*?)```", CUSTOM_CELL_DOC.read_text(), re.S)
    (block,) = [b for b in blocks if f"examples/{example}" in b]
    return block


def copy_workflow(dest: Path) -> Path:
    """The workflow (Snakefile, rules, configs, profiles, library sources) copied to dest."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy(source, dest / name)
    return dest


def isolated_env(work: Path) -> dict[str, str]:
    """Jobs import rnnbench from the copy, so an edit to the checkout mid-run cannot leak in."""
    return {**os.environ, "PYTHONPATH": str(work / "src")}


def run_test_config(dest: Path) -> Path:
    """The .test config run end to end by `snakemake --cores 2` in a copy of the workflow."""
    work = copy_workflow(dest)
    result = subprocess.run(
        ["snakemake", "--cores", "2", "--configfile", TEST_CONFIG],
        cwd=work, capture_output=True, text=True, timeout=900, env=isolated_env(work),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return work

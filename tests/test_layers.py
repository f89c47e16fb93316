"""The package's layers (pyproject.toml, [tool.importlinter]; `lint-imports` checks them in CI):
besides, no module imports another module's private (underscored) name."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MODULES = sorted((SRC / "rnnbench").rglob("*.py"))


def _name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def private_imports(text: str, module: str, is_package: bool = False) -> list[str]:
    """'module.name' for every underscored name `module` imports from another rnnbench module."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            found += [
                f"{source}.{a.name}"
                for a in node.names
                if a.name.startswith("_") and source.startswith("rnnbench") and source != module
            ]
    return found


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_imports_another_modules_private_name(path):
    assert private_imports(path.read_text(), _name(path), path.name == "__init__.py") == []


def test_a_private_import_is_found():
    text = "from ..toolkit import Workspace, _init_joint\nfrom .base import _private\n"
    found = private_imports(text, "rnnbench.cells.rnn")
    assert found == ["rnnbench.toolkit._init_joint", "rnnbench.cells.base._private"]

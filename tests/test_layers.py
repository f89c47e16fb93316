"""The package's layers (pyproject.toml, [tool.importlinter]; `lint-imports` checks them in CI):
besides, no module imports another module's private (underscored) name."""

import ast
import re
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


PLUGIN_CODE = sorted((SRC.parent / "examples").rglob("*.py"))


def plugin_private_uses(text: str) -> list[str]:
    """Underscored rnnbench names a plugin's code uses: imported, or read off an imported
    rnnbench module or object (toolkit._x)."""
    tree, found, bound = ast.parse(text), [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rnnbench"):
            for a in node.names:
                bound.add(a.asname or a.name)
                if a.name.startswith("_") or "._" in node.module:
                    found.append(f"{node.module}.{a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("rnnbench"):
                    bound.add((a.asname or a.name).split(".")[0])
                    found += [a.name] * ("._" in a.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if isinstance(node.value, ast.Name) and node.value.id in bound:
                found.append(f"{node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", PLUGIN_CODE, ids=lambda p: p.name)
def test_the_example_plugins_use_no_private_name_of_rnnbench(path):
    assert plugin_private_uses(path.read_text()) == []


def test_a_plugins_private_use_is_found():
    text = "from rnnbench import toolkit\nfrom rnnbench.cells import _x\ntoolkit._chunks(3)\n"
    assert plugin_private_uses(text) == ["rnnbench.cells._x", "toolkit._chunks"]


def test_the_cell_docs_name_no_private_name_of_rnnbench():
    text = (SRC.parent / "docs/custom-cell.md").read_text()
    assert re.findall(r"rnnbench(?:\.\w+)*\._\w+|`_\w+`", text) == []

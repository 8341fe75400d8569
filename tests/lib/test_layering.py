"""The request path goes forward only: lower modules never import the layers built on them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# package -> the top-level packages it must never import (directly or lazily inside a function)
FORBIDDEN = {
    "lib": {"accounts", "billing", "jobs", "restoration"},
    "jobs": {"restoration"},
    "billing": {"restoration"},
    "ml": {"django", "config", "lib", "accounts", "billing", "jobs", "restoration"},
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_lower_package_imports_nothing_above_it(package):
    offenders = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        bad = _imported_packages(path) & FORBIDDEN[package]
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_the_checker_sees_a_lazy_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from restoration.netfetch import check_public_url\n")
    assert "restoration" in _imported_packages(module)

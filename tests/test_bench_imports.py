"""Benchmarks are not tests, but they must keep running: every name a bench script imports from
this project still exists (an API change broke bench/swarm.py once, and nothing noticed)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
OURS = ("pytest_agentchaos", "ecommerce_swarm")


def _imports(script: Path) -> list[tuple[str, str]]:
    found = []
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(OURS):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.startswith(OURS)]
    return found


@pytest.mark.parametrize("script", sorted(BENCH.glob("*.py")), ids=lambda p: p.name)
def test_every_project_name_a_bench_imports_exists(script: Path) -> None:
    for module, name in _imports(script):
        loaded = importlib.import_module(module)
        if name:
            assert hasattr(loaded, name), f"{script.name}: {module} has no {name}"

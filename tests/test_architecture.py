"""The layer contract of pyproject.toml holds, and it is a real check: it fails when broken."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = (
    "import sys; from importlinter.cli import lint_imports_command as lint; "
    "sys.argv[0] = 'lint-imports'; lint()"
)


def _lint(project: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", LINT, "--no-cache"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "pytest_agentchaos",
        tmp_path / "pytest_agentchaos",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_its_layers(project_copy: Path) -> None:
    result = _lint(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "message"),
    [
        (
            "model/kinds.py",
            "import pytest_agentchaos.engine.run",
            "pytest_agentchaos.model is not allowed to import pytest_agentchaos.engine",
        ),
        (
            "engine/run.py",
            "import pytest_agentchaos.plugin",
            "pytest_agentchaos.engine is not allowed to import pytest_agentchaos.plugin",
        ),
        (
            "model/outcomes.py",
            "if False:\n    import pytest_agentchaos.model.records",
            "No cycles are allowed in pytest_agentchaos.model",
        ),
    ],
)
def test_an_upward_import_or_a_cycle_breaks_the_contract(
    project_copy: Path, module: str, bad_import: str, message: str
) -> None:
    path = project_copy / "pytest_agentchaos" / module
    path.write_text(path.read_text() + f"\n{bad_import}\n")
    result = _lint(project_copy)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout

"""What several test files need: running pytest as users do, and reading what it stored."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

# langsmith's pytest plugin (installed with the langgraph extra) costs ~1.4 s per process
NO_SLOW_PLUGINS = ("-p", "no:langsmith_plugin")
XDIST = ("-p", "xdist", "-n", "2")


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def run_subprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in its own process (for xdist, signals and import checks), without slow plugins."""
    return pytester.runpytest_subprocess(*NO_SLOW_PLUGINS, *args)


def assert_usage_error(result: pytest.RunResult, *fragments: str) -> str:
    """The session stopped with pytest's usage error (exit code 4), no INTERNALERROR, and the
    message names every fragment."""
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "INTERNALERROR" not in text, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} missing from:\n{text}"
    return text


def rows(db: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """The rows of a query on a store, as dicts."""
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of a query on a store, as tuples."""
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def json_report(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded

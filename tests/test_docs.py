"""The documentation covers the plugin as it is, and its example test modules run.

A fenced ``python`` block right after ``<!-- pytest-module -->`` in README.md or docs/*.md is a
complete test module; a block after ``<!-- pytest-conftest -->`` is the conftest.py of the next
module block in the same file. Each module runs with and without ``--chaos`` and must pass.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from pytest_agentchaos import FAULT_KINDS
from pytest_agentchaos.cli import build_parser
from pytest_agentchaos.config.settings import TEST_SETTING_KEYS
from pytest_agentchaos.model.outcomes import OUTCOMES
from pytest_agentchaos.store.sqlite import EventStore

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
USAGE = DOCS / "usage.md"
CLI = DOCS / "cli.md"
DOCUMENTED = [README, *sorted(DOCS.glob("*.md"))]
#: Pages that other work streams write; links to them are allowed before they exist.
PAGES_WRITTEN_ELSEWHERE: set[str] = set()

BLOCK = re.compile(r"<!-- pytest-(module|conftest) -->[ \t]*\n```python\n(.*?)^```", re.S | re.M)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def mentions(text: str, word: str) -> bool:
    """Whether ``word`` occurs as a whole name (not inside a longer option or marker)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


# ------------------------------------------------------------------ options and ini keys
def _help_lines(pytester: pytest.Pytester) -> list[str]:
    result = pytester.runpytest("--help")
    assert result.ret == 0
    return result.outlines


def documented_options(lines: list[str]) -> list[str]:
    """The options of the agentchaos group of ``pytest --help``."""
    start = next(
        i for i, line in enumerate(lines) if "agentchaos" in line and not line.startswith(" ")
    )
    options: list[str] = []
    for line in lines[start + 1 :]:
        if line and not line.startswith(" "):
            break
        names = re.match(r"^  (-\S+(?:, -\S+)*)", line)
        if names:
            options.extend(re.findall(r"--[\w-]+", names.group(1)))
    return options


def documented_ini_keys(lines: list[str]) -> list[str]:
    return [
        match.group(1)
        for line in lines
        if (match := re.match(r"^  ((?:agent)?chaos\w*) \(\w+\):", line))
    ]


@pytest.fixture
def pytest_help(pytester: pytest.Pytester) -> list[str]:
    return _help_lines(pytester)


@pytest.mark.parametrize("page", [USAGE, README], ids=lambda p: p.name)
def test_every_option_is_documented(pytest_help: list[str], page: Path) -> None:
    options = documented_options(pytest_help)
    assert {"--chaos", "--chaos-seed"} <= set(options), options
    text = read(page)
    missing = [option for option in options if not mentions(text, option)]
    assert not missing, f"{page.name} does not document {missing}"


@pytest.mark.parametrize("page", [USAGE, README], ids=lambda p: p.name)
def test_every_ini_key_is_documented(pytest_help: list[str], page: Path) -> None:
    keys = documented_ini_keys(pytest_help)
    assert {"chaos", "chaos_seed"} <= set(keys), keys
    text = read(page)
    missing = [key for key in keys if f"`{key}`" not in text]
    assert not missing, f"{page.name} does not document the ini keys {missing}"


# ------------------------------------------------------------------------------ markers
@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_fault_marker_is_documented(kind: str) -> None:
    assert mentions(read(USAGE), f"chaos_{kind}"), f"docs/usage.md lacks chaos_{kind}"


def test_scenario_and_settings_markers_are_documented() -> None:
    usage = read(USAGE)
    for marker in ("chaos_scenario", "chaos_settings"):
        assert mentions(usage, marker), marker
    missing = [key for key in TEST_SETTING_KEYS if f"`{key}`" not in usage]
    assert not missing, f"docs/usage.md lacks the chaos_settings keys {missing}"


def test_every_fixture_is_documented(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    fixtures = sorted(
        {m.group(1) for line in result.outlines if (m := re.match(r"^(agentchaos\w*)\b", line))}
    )
    assert "agentchaos" in fixtures, result.outlines
    for page in (USAGE, README):
        missing = [name for name in fixtures if f"`{name}`" not in read(page)]
        assert not missing, f"{page.name} does not document the fixtures {missing}"


# ---------------------------------------------------------------------------------- CLI
def cli_commands() -> list[str]:
    parser = build_parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(name for action in subparsers for name in action.choices)


def cli_options(command: str) -> list[str]:
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(
        option
        for action in subparsers.choices[command]._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    )


@pytest.mark.parametrize("command", cli_commands())
def test_every_cli_command_is_documented(command: str) -> None:
    assert f"agentchaos {command}" in read(README)
    assert f"## `agentchaos {command}`" in read(CLI)


@pytest.mark.parametrize("command", cli_commands())
def test_every_cli_option_is_documented(command: str) -> None:
    options = cli_options(command)
    assert options, command
    missing = [option for option in options if not mentions(read(CLI), option)]
    assert not missing, f"docs/cli.md does not document the options {missing} of {command}"


# ------------------------------------------------------------------ outcomes and store
def test_every_outcome_is_defined_in_outcomes_md() -> None:
    text = read(DOCS / "outcomes.md")
    for outcome in OUTCOMES:
        assert f"`{outcome}`" in text, outcome


def test_every_store_column_is_documented(tmp_path: Path) -> None:
    text = read(DOCS / "store.md")
    path = tmp_path / "events.db"
    with EventStore.open(path):
        pass
    with closing(sqlite3.connect(path)) as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
                " AND name NOT LIKE 'sqlite_%'"
            )
        ]
        columns = {
            table: [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            for table in tables
        }
    assert {"sessions", "runs", "events", "faults"} <= set(tables)
    for table, names in columns.items():
        assert f"`{table}" in text, f"docs/store.md lacks the table {table}"
        missing = [name for name in names if f"`{name}`" not in text]
        assert not missing, f"docs/store.md lacks columns of {table}: {missing}"


# ------------------------------------------------------------------------------- links
@pytest.mark.parametrize("page", DOCUMENTED, ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", read(page)):
        path = (page.parent / target).resolve()
        if path.relative_to(ROOT).as_posix() in PAGES_WRITTEN_ELSEWHERE:
            continue
        assert path.exists(), f"{page.name} links to {target}, which does not exist"


# ---------------------------------------------------------------------- runnable examples
def runnable_examples(page: Path) -> list[tuple[str, str | None]]:
    """(module, conftest or None) for every runnable module block of ``page``."""
    examples: list[tuple[str, str | None]] = []
    conftest: str | None = None
    for kind, code in BLOCK.findall(read(page)):
        if kind == "conftest":
            conftest = code
        else:
            examples.append((code, conftest))
            conftest = None
    return examples


EXAMPLES = [
    pytest.param(module, conftest, id=f"{page.name}-{number}")
    for page in DOCUMENTED
    for number, (module, conftest) in enumerate(runnable_examples(page), start=1)
]


def test_readme_has_a_runnable_quickstart() -> None:
    [(module, _), *_] = runnable_examples(README)
    assert "@agent(" in module
    assert "chaos_crash" in module


@pytest.mark.parametrize("chaos_args", [(), ("--chaos", "--chaos-seed=1")], ids=["steady", "chaos"])
@pytest.mark.parametrize(("module", "conftest"), EXAMPLES)
def test_example_module_passes(
    pytester: pytest.Pytester, module: str, conftest: str | None, chaos_args: tuple[str, ...]
) -> None:
    if conftest is not None:
        pytester.makeconftest(conftest)
    pytester.makepyfile(test_example=module)

    result = pytester.runpytest("-p", "no:cacheprovider", *chaos_args)

    assert result.ret == 0, "\n".join(result.outlines)
    assert result.parseoutcomes().get("passed", 0) >= 1
    if chaos_args:
        result.stdout.fnmatch_lines(["*agentchaos resilience report*", "seed 1 *"])

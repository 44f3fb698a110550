"""Acceptance tests, run from outside with pytester: options, markers, inertness, usage errors.

Every bad input must stop the session with pytest's usage error (exit code 4) before any test
runs, with a message that names the test, the argument, the bad value and what is allowed, and
never with an INTERNALERROR traceback.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest
from helpers import output

from pytest_agentchaos.model.kinds import FAULT_KINDS

# langsmith's pytest plugin (installed with the langgraph extra) costs ~1.4 s per process
NO_SLOW_PLUGINS = ("-p", "no:langsmith_plugin")

OPTIONS = (
    "--chaos",
    "--chaos-seed",
    "--chaos-runs",
    "--chaos-db",
    "--chaos-report",
    "--chaos-strategy",
    "--chaos-deadline",
    "--chaos-min-recovery-rate",
    "--chaos-max-mttr",
)

# A test body that leaves a trace when it runs, so "no test ran" can be checked on disk.
RAN = """
import pathlib
def _ran():
    pathlib.Path("ran.txt").write_text("yes")
"""


def assert_usage_error(
    pytester: pytest.Pytester, result: pytest.RunResult, *fragments: str | tuple[str, ...]
) -> str:
    """The session stopped with a usage error naming every fragment (a tuple: one of its
    alternatives), and nothing ran."""
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "INTERNALERROR" not in text
    assert "Traceback" not in text
    for fragment in fragments:
        alternatives = fragment if isinstance(fragment, tuple) else (fragment,)
        assert any(a in text for a in alternatives), f"{fragment!r} missing from:\n{text}"
    assert not (pytester.path / "ran.txt").exists(), "a test ran despite the usage error"
    return text


# --------------------------------------------------------------------------- help, markers
def test_help_lists_the_agentchaos_group_and_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    text = result.stdout.str()
    group = text.index("chaos testing of LLM agents (pytest-agentchaos):")
    section = text[group : text.index("[pytest] configuration options", group)]
    for option in OPTIONS:
        assert re.search(rf"^\s+{re.escape(option)}(=\S+)?\s", section, re.M), option
    # each option is also an ini key chaos_*
    for option in OPTIONS:
        ini = option.lstrip("-").replace("-", "_")
        assert re.search(rf"^\s+{ini} \(\w+\):", text, re.M), ini


def test_markers_lists_every_fault_kind_and_scenario_and_settings(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest("--markers")
    assert result.ret == pytest.ExitCode.OK
    expected = [f"@pytest.mark.chaos_{kind}(*" for kind in FAULT_KINDS]
    expected += ["@pytest.mark.chaos_scenario(*", "@pytest.mark.chaos_settings(*"]
    for line in expected:
        result.stdout.fnmatch_lines([line])
    assert len(FAULT_KINDS) == 17
    assert {"crash", "hang", "delay", "memory_wipe", "message_drop", "skip_step"} <= set(
        FAULT_KINDS
    )


@pytest.mark.parametrize("chaos", [False, True], ids=["inert", "chaos"])
def test_strict_markers_accepts_every_chaos_marker(pytester: pytest.Pytester, chaos: bool) -> None:
    decorators = "\n".join(f"@pytest.mark.chaos_{kind}()" for kind in FAULT_KINDS)
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.chaos_scenario("outage")
        @pytest.mark.chaos_settings(deadline=0.05)
{textwrap.indent(decorators, " " * 8)}
        def test_all_markers():
            pass
        """
    )
    pytester.path.joinpath("outage.yaml").write_text("faults: [{kind: crash, target: a}]\n")
    args = ["--strict-markers", "-p", "no:cacheprovider"] + (["--chaos"] if chaos else [])
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK


# ------------------------------------------------------------------------------- inertness
INERT_TESTS = """
import pytest
from pytest_agentchaos import agent

calls = []

@agent("pricing")
def price(state):
    calls.append(state)
    return {"price": 10.0}

@agent("writer")
async def write(text):
    return text.upper()

@pytest.mark.chaos_crash(target="pricing")
@pytest.mark.chaos_hang(target="*", seconds=30)
@pytest.mark.chaos_hallucination(target="pricing", field="price")
@pytest.mark.chaos_token_limit(target="writer")
def test_steady_state(agentchaos):
    import asyncio
    for i in range(3):
        assert price({"i": i}) == {"price": 10.0}
    assert asyncio.run(write("abcd")) == "ABCD"
    assert len(calls) == 3
    assert agentchaos.enabled is False
    assert agentchaos.seed is None
    assert agentchaos.faults() == []
    assert agentchaos.calls("pricing") == 0
    agentchaos.inject("crash", target="pricing")
    assert price({}) == {"price": 10.0}
    agentchaos.assert_recovered("pricing", within=0.0)
    agentchaos.assert_no_silent()
"""


def test_without_chaos_markers_are_inert(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inert=INERT_TESTS)
    result = pytester.runpytest("--chaos-db=store.db", "--chaos-report=r.json")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert not (pytester.path / ".agentchaos").exists()
    assert not (pytester.path / "store.db").exists()
    assert not (pytester.path / "r.json").exists()
    assert "resilience report" not in result.stdout.str()


def test_ini_chaos_true_enables_chaos_like_the_option(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos = true\nchaos_seed = 5\nchaos_db = ini.db\n")
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("a")
        def a():
            return 1

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_x(agentchaos):
            assert agentchaos.enabled
            with pytest.raises(AgentCrashed):
                a()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert (pytester.path / "ini.db").exists()
    result.stdout.fnmatch_lines(["seed 5 · 1 faults ·*"])


# ---------------------------------------------------------------------- bad marker arguments
def _bad_marker_file(pytester: pytest.Pytester, marker: str) -> None:
    pytester.makepyfile(
        test_bad=RAN
        + f"""
import pytest

def test_fine():
    _ran()

{marker}
def test_x():
    _ran()
"""
    )


@pytest.mark.parametrize("chaos", [True, False], ids=["chaos", "no-chaos"])
@pytest.mark.parametrize(
    ("marker", "fragments"),
    [
        (
            '@pytest.mark.chaos_crash(target="a", probability=1.5)',
            ["probability=1.5", ("<= 1", "0 to 1", "0..1")],
        ),
        ('@pytest.mark.chaos_crash(target="a", at_call=-1)', ["at_call=-1", ">= 1"]),
        ('@pytest.mark.chaos_crash(target="a", at_call=0)', ["at_call=0", ">= 1"]),
        (
            '@pytest.mark.chaos_crash(target="a", atcall=1)',
            ["'atcall'", "at_call", "probability", "times", "when"],
        ),
        (
            '@pytest.mark.chaos_crash(target="a", when="later")',
            ["when='later'", "'before'", "'after'"],
        ),
        (
            '@pytest.mark.chaos_delay(target="a", seconds=-1)',
            ["seconds=-1", ">= 0"],
        ),
        (
            "@pytest.mark.chaos_crsh(target='a')",
            ["chaos_crsh", "crash", "hang", "chaos_scenario", "chaos_settings"],
        ),
        (
            "@pytest.mark.chaos_settings(deadline=-1)",
            ["deadline", "-1", "> 0"],
        ),
        (
            "@pytest.mark.chaos_settings(retries=3)",
            ["'retries'", "strategy", "deadline", "retry_attempts", "retry_backoff"],
        ),
    ],
    ids=[
        "probability",
        "at_call_negative",
        "at_call_zero",
        "unknown_argument",
        "crash_when",
        "delay_seconds",
        "unknown_kind",
        "settings_deadline",
        "settings_unknown_key",
    ],
)
def test_bad_marker_is_a_usage_error_naming_test_argument_value_and_allowed(
    pytester: pytest.Pytester, marker: str, fragments: list[str | tuple[str, ...]], chaos: bool
) -> None:
    _bad_marker_file(pytester, marker)
    # the outer suite turns warnings into errors; a user's run only warns about chaos_crsh
    args = ["-W", "ignore::pytest.PytestUnknownMarkWarning"] + (["--chaos"] if chaos else [])
    result = pytester.runpytest(*args)
    assert_usage_error(pytester, result, "test_bad.py::test_x", *fragments)
    assert "test_bad.py::test_fine:" not in output(result)
    assert not (pytester.path / ".agentchaos").exists() or chaos


def test_unknown_marker_with_strict_markers_is_pytests_own_error(
    pytester: pytest.Pytester,
) -> None:
    _bad_marker_file(pytester, "@pytest.mark.chaos_crsh(target='a')")
    result = pytester.runpytest("--chaos", "--strict-markers")
    text = output(result)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert "'chaos_crsh' not found in `markers` configuration option" in text
    assert "INTERNALERROR" not in text
    assert not (pytester.path / "ran.txt").exists()


def test_marker_with_two_positional_arguments_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    _bad_marker_file(pytester, "@pytest.mark.chaos_crash('a', 'b')")
    result = pytester.runpytest("--chaos")
    assert_usage_error(pytester, result, "test_bad.py::test_x", "chaos_crash", "positional")


def test_positional_target_is_accepted(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("a")
        def a():
            return 1

        @pytest.mark.chaos_crash("a", at_call=2)
        def test_x():
            assert a() == 1
            with pytest.raises(AgentCrashed):
                a()
        """
    )
    pytester.runpytest("--chaos").assert_outcomes(passed=1)


# --------------------------------------------------------------------- bad scenarios
def test_malformed_yaml_scenario_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _bad_marker_file(pytester, '@pytest.mark.chaos_scenario("broken")')
    pytester.path.joinpath("broken.yaml").write_text("faults: [{kind: crash, target: a\n")
    result = pytester.runpytest("--chaos")
    assert_usage_error(pytester, result, "test_bad.py::test_x", "broken.yaml", "YAML")


def test_scenario_with_a_bad_fault_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _bad_marker_file(pytester, '@pytest.mark.chaos_scenario("outage")')
    pytester.path.joinpath("outage.yaml").write_text(
        "faults:\n  - {kind: crash, target: a, probability: 2}\n"
    )
    result = pytester.runpytest("--chaos")
    assert_usage_error(
        pytester,
        result,
        "test_bad.py::test_x",
        "outage.yaml",
        "probability=2",
        ("<= 1", "0 to 1", "0..1"),
    )


def test_missing_scenario_is_a_usage_error(pytester: pytest.Pytester) -> None:
    _bad_marker_file(pytester, '@pytest.mark.chaos_scenario("nope")')
    result = pytester.runpytest("--chaos")
    assert_usage_error(pytester, result, "test_bad.py::test_x", "'nope'", "not found", "nope.yaml")


def test_scenario_faults_fire_under_chaos(pytester: pytest.Pytester) -> None:
    pytester.mkdir("scenarios").joinpath("outage.yaml").write_text(
        "name: outage\nfaults:\n  - {kind: crash, target: a, at_call: [2, 3]}\n"
    )
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("a")
        def a():
            return 1

        @pytest.mark.chaos_scenario("outage")
        def test_x(agentchaos):
            outcomes = []
            for _ in range(4):
                try:
                    outcomes.append(a())
                except AgentCrashed:
                    outcomes.append("crash")
            assert outcomes == [1, "crash", "crash", 1]
            assert [f.call_number for f in agentchaos.faults()] == [2, 3]
        """
    )
    pytester.runpytest("--chaos").assert_outcomes(passed=1)


# --------------------------------------------------------------------------- bad options
@pytest.mark.parametrize(
    ("option", "fragments"),
    [
        ("--chaos-seed=abc", ["--chaos-seed", "'abc'", "whole number"]),
        ("--chaos-seed=-3", ["--chaos-seed", "'-3'", "whole number", ("from 0", ">= 0")]),
        ("--chaos-runs=0", ["--chaos-runs", "'0'", ">= 1"]),
        ("--chaos-report=x.pdf", ["--chaos-report", "x.pdf", ".pdf", ".json", ".html"]),
        ("--chaos-min-recovery-rate=2", ["--chaos-min-recovery-rate", "'2'", "0 to 1"]),
        ("--chaos-max-mttr=soon", ["--chaos-max-mttr", "'soon'", "seconds"]),
        ("--chaos-deadline=0", ["--chaos-deadline", "'0'", "> 0"]),
        ("--chaos-strategy=nonexistent", ["'nonexistent'", "retry"]),
        ("--chaos-strategy=replay", ["'replay'", "planned", "retry"]),
        ("--chaos-strategy=retry,replay", ["'replay'", "planned"]),
    ],
)
def test_bad_option_is_a_usage_error(
    pytester: pytest.Pytester, option: str, fragments: list[str]
) -> None:
    _bad_marker_file(pytester, '@pytest.mark.chaos_crash(target="a")')
    result = pytester.runpytest("--chaos", "--chaos-db=s.db", option)
    assert_usage_error(pytester, result, *fragments)


def test_bad_ini_value_is_a_usage_error_naming_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos_runs = many\n")
    _bad_marker_file(pytester, '@pytest.mark.chaos_crash(target="a")')
    result = pytester.runpytest("--chaos")
    assert_usage_error(pytester, result, "chaos_runs", "'many'")


def test_unknown_strategy_in_chaos_settings_marker_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    _bad_marker_file(pytester, '@pytest.mark.chaos_settings(strategy="nonexistent")')
    result = pytester.runpytest("--chaos")
    assert_usage_error(pytester, result, "test_bad.py::test_x", "'nonexistent'", "retry")


def test_unknown_strategy_is_rejected_without_chaos_too(pytester: pytest.Pytester) -> None:
    _bad_marker_file(pytester, '@pytest.mark.chaos_crash(target="a")')
    result = pytester.runpytest("--chaos-strategy=nonexistent")
    assert_usage_error(pytester, result, "'nonexistent'")


def test_bad_option_values_are_rejected_without_chaos(pytester: pytest.Pytester) -> None:
    _bad_marker_file(pytester, '@pytest.mark.chaos_crash(target="a")')
    result = pytester.runpytest("--chaos-seed=abc")
    assert_usage_error(pytester, result, "--chaos-seed", "'abc'")


# ------------------------------------------------------------------------ import weight
HEAVY = ("langgraph", "openai", "torch", "sentence_transformers", "aalpy", "scipy")


def test_import_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, json\n"
        "import pytest_agentchaos, pytest_agentchaos.plugin\n"
        f"heavy = {(*HEAVY, 'ecommerce_swarm')!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_plugin_start_up_loads_no_bus_and_no_llm_integration() -> None:
    # Every pytest run loads the plugins; the bus and the OpenAI integration load on first use.
    code = (
        "import sys, json\n"
        "import pytest_agentchaos.plugin, pytest_agentchaos.plugin.bus\n"
        "import pytest_agentchaos.plugin.openai\n"
        "lazy = ('pytest_agentchaos.bus', 'pytest_agentchaos.integrations.openai', 'asyncio')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m in lazy)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_chaos_session_with_reports_loads_no_heavy_dependency(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        f"""
        import json, pathlib, sys

        def pytest_unconfigure(config):
            heavy = {HEAVY!r}
            loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)
            pathlib.Path("loaded.json").write_text(json.dumps(loaded))
        """
    )
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("a")
        def a():
            return 1

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_x(agentchaos):
            assert a() == 1  # recovered by retry
            agentchaos.assert_recovered("a")
        """
    )
    result = pytester.runpytest_subprocess(
        *NO_SLOW_PLUGINS,
        "--chaos",
        "--chaos-strategy=retry",
        "--chaos-report=r.json",
        "--chaos-report=r.html",
    )
    result.assert_outcomes(passed=1)
    assert (pytester.path / "loaded.json").read_text() == "[]"

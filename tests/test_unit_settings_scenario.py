"""Unit tests of pytest_agentchaos.config.settings and pytest_agentchaos.config.scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_agentchaos.config.redaction import redact_args
from pytest_agentchaos.config.scenario import find_scenario, load_scenario
from pytest_agentchaos.config.settings import (
    SessionSettings,
    check_output_path,
    check_test_settings,
    parse_rate,
    parse_report_path,
    parse_runs,
    parse_seconds,
    parse_seed,
    parse_strategies,
    resolve_run_settings,
)
from pytest_agentchaos.engine.run import RunSettings
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.model.faults import CrashFault, HallucinationFault, check_glob, parse_fault

# ------------------------------------------------------------------ parse_*


@pytest.mark.parametrize(
    ("value", "expected"), [("0", 0), (" 1234 ", 1234), (42, 42), (str(2**62), 2**62)]
)
def test_parse_seed_good(value: object, expected: int) -> None:
    assert parse_seed(value) == expected


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", True])
def test_parse_seed_bad(value: object) -> None:
    with pytest.raises(ChaosConfigError) as info:
        parse_seed(value)
    assert (
        str(info.value)
        == f"--chaos-seed={value!r}: must be a whole number from 0 to 9223372036854775807"
    )


def test_parse_runs() -> None:
    assert parse_runs("3") == 3
    for bad in ("0", "-2", "x", "2.5"):
        with pytest.raises(ChaosConfigError) as info:
            parse_runs(bad, "chaos_runs")
        assert str(info.value) == f"chaos_runs={bad!r}: must be a whole number >= 1"


def test_parse_rate() -> None:
    assert parse_rate("0.95") == 0.95
    assert parse_rate(0) == 0.0
    assert parse_rate("1") == 1.0
    for bad in ("1.01", "-0.1", "ninety", "nan"):
        with pytest.raises(ChaosConfigError) as info:
            parse_rate(bad)
        assert str(info.value) == (
            f"--chaos-min-recovery-rate={bad!r}: must be a number from 0 to 1"
        )


def test_parse_seconds() -> None:
    assert parse_seconds("0", "--chaos-max-mttr") == 0.0
    assert parse_seconds("1.5", "--chaos-max-mttr") == 1.5
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(ChaosConfigError) as info:
            parse_seconds(bad, "--chaos-max-mttr")
        assert (
            str(info.value) == f"--chaos-max-mttr={bad!r}: must be a finite number of seconds >= 0"
        )
    with pytest.raises(ChaosConfigError) as info:
        parse_seconds("0", "deadline", positive=True)
    assert str(info.value) == "deadline='0': must be a finite number of seconds > 0"


def test_parse_seed_rejects_values_the_store_cannot_hold() -> None:
    with pytest.raises(ChaosConfigError, match="must be a whole number"):
        parse_seed(str(2**64))


def test_parse_seconds_rejects_infinity() -> None:
    with pytest.raises(ChaosConfigError, match="must be a finite number of seconds > 0"):
        parse_seconds("inf", "deadline", positive=True)


def test_parse_strategies() -> None:
    assert parse_strategies("checkpoint,retry") == ("checkpoint", "retry")
    assert parse_strategies(" retry , ,checkpoint ") == ("retry", "checkpoint")
    assert parse_strategies(["retry"]) == ("retry",)
    assert parse_strategies("") == ()
    with pytest.raises(ChaosConfigError) as info:
        parse_strategies("retry,retry")
    assert "--chaos-strategy='retry,retry'" in str(info.value)
    assert "named twice" in str(info.value)


def test_parse_report_path() -> None:
    for name in ("chaos.json", "out/chaos.md", "c.csv", "c.HTML"):
        assert parse_report_path(name) == Path(name)
    for bad, suffix in (("chaos.txt", "'.txt'"), ("chaos", "'(no suffix)'")):
        with pytest.raises(ChaosConfigError) as info:
            parse_report_path(bad)
        message = str(info.value)
        assert f"--chaos-report={bad!r}" in message
        assert suffix in message
        assert ".json, .md, .csv, .html" in message


def test_check_test_settings() -> None:
    checked = check_test_settings(
        {"strategy": "retry,checkpoint", "deadline": "2", "retry_attempts": 5, "retry_backoff": 0},
        "marker",
    )
    assert checked == {
        "strategy": ("retry", "checkpoint"),
        "deadline": 2.0,
        "retry_attempts": 5,
        "retry_backoff": 0.0,
    }
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"strategi": "retry"},
            "marker: unknown setting 'strategi'; allowed: strategy, deadline, retry_attempts, "
            "retry_backoff",
        ),
        ({"deadline": 0}, "marker deadline=0: must be a finite number of seconds > 0"),
        ({"retry_attempts": 0}, "marker retry_attempts=0: must be a whole number >= 1"),
        ({"retry_backoff": -1}, "marker retry_backoff=-1: must be a finite number of seconds >= 0"),
    ]
    for values, message in cases:
        with pytest.raises(ChaosConfigError) as info:
            check_test_settings(values, "marker")
        assert str(info.value) == message


# ------------------------------------------------------------------ precedence
INI = SessionSettings(strategies=("ini",), deadline_s=4.0)
CLI = SessionSettings(
    strategies=("cli",), strategies_from_cli=True, deadline_s=9.0, deadline_from_cli=True
)
MARKER = {"strategy": ("marker",), "deadline": 3.0, "retry_attempts": 7}
FIXTURE = {"strategy": ("fixture",), "deadline": 2.0, "retry_attempts": 5, "retry_backoff": 0.5}


@pytest.mark.parametrize(
    ("session", "marker", "fixture", "expected"),
    [
        (SessionSettings(), {}, {}, RunSettings()),
        (INI, {}, {}, RunSettings(strategies=("ini",), deadline_s=4.0)),
        (
            INI,
            {},
            FIXTURE,
            RunSettings(
                strategies=("fixture",), deadline_s=2.0, retry_attempts=5, retry_backoff_s=0.5
            ),
        ),
        (
            INI,
            MARKER,
            FIXTURE,
            RunSettings(
                strategies=("marker",), deadline_s=3.0, retry_attempts=7, retry_backoff_s=0.5
            ),
        ),
        (
            CLI,
            MARKER,
            FIXTURE,
            RunSettings(strategies=("cli",), deadline_s=9.0, retry_attempts=7, retry_backoff_s=0.5),
        ),
        (CLI, {}, {}, RunSettings(strategies=("cli",), deadline_s=9.0)),
        (
            SessionSettings(strategies=(), strategies_from_cli=True),
            MARKER,
            {},
            RunSettings(strategies=(), deadline_s=3.0, retry_attempts=7),
        ),
    ],
    ids=["defaults", "ini", "fixture>ini", "marker>fixture", "cli>marker", "cli", "cli-empty"],
)
def test_resolve_run_settings_precedence(
    session: SessionSettings,
    marker: dict[str, Any],
    fixture: dict[str, Any],
    expected: RunSettings,
) -> None:
    assert resolve_run_settings(session, marker, fixture) == expected


def test_resolve_only_strategy_from_cli_keeps_marker_deadline() -> None:
    session = SessionSettings(
        strategies=("cli",), strategies_from_cli=True, deadline_s=4.0, deadline_from_cli=False
    )
    settings = resolve_run_settings(session, {"deadline": 3.0}, {"strategy": ("fixture",)})
    assert settings == RunSettings(strategies=("cli",), deadline_s=3.0)


# ------------------------------------------------------------------ scenarios
GOOD = """\
name: pricing outage
description: pricing crashes once, marketing gets a wrong price
faults:
  - {kind: crash, target: pricing, at_call: 1}
  - {kind: hallucination, target: pricing, field: price, probability: 0.5}
settings: {strategy: retry, deadline: 0.5}
"""


def write(tmp_path: Path, text: str, name: str = "outage.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_good_scenario(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    scenario = load_scenario(path)
    assert scenario.name == "pricing outage"
    assert scenario.path == path
    crash, hallucination = scenario.faults
    assert isinstance(crash, CrashFault)
    assert (crash.target, crash.at_call) == ("pricing", (1,))
    assert isinstance(hallucination, HallucinationFault)
    assert (hallucination.field, hallucination.probability) == ("price", 0.5)
    assert scenario.settings == {"strategy": ("retry",), "deadline": 0.5}


def test_scenario_name_defaults_to_file_stem(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, "faults: []\n", "quiet.yml"))
    assert scenario.name == "quiet"
    assert scenario.faults == ()
    assert scenario.settings == {}


def _load_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ChaosConfigError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"scenario {path}")
    return message


def test_scenario_bad_yaml(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "faults: [ {kind: crash\n")
    assert "not valid YAML" in message


def test_scenario_not_a_mapping(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "- kind: crash\n")
    assert "must be a mapping with keys name, description, faults, settings" in message


def test_scenario_unknown_top_key(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "name: x\nfault:\n  - {kind: crash}\n")
    assert "unknown key 'fault'" in message
    assert "allowed: name, description, faults, settings" in message


def test_scenario_faults_not_a_list(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "faults: {kind: crash}\n")
    assert "'faults' must be a list" in message


def test_scenario_fault_without_kind(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "faults:\n  - {kind: crash}\n  - {target: pricing}\n")
    assert "fault #2 must be a mapping with a 'kind'" in message


def test_scenario_bad_fault_argument_names_the_fault_number(tmp_path: Path) -> None:
    message = _load_error(
        tmp_path, "faults:\n  - {kind: delay}\n  - {kind: crash, probability: 2}\n"
    )
    assert "fault #2:" in message
    assert "crash: argument probability=2" in message
    assert "from 0 to 1" in message


def test_scenario_unknown_fault_kind_suggests(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "faults:\n  - {kind: hallucinaton}\n")
    assert "fault #1:" in message
    assert "did you mean 'hallucination'?" in message


def test_scenario_bad_settings(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "settings: {deadline: -1}\n")
    assert "deadline=-1: must be a finite number of seconds > 0" in message
    message = _load_error(tmp_path, "settings: [retry]\n")
    assert "'settings' must be a mapping" in message


def test_find_scenario(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    direct = write(tmp_path, "faults: []\n", "outage.yaml")
    nested = write(tmp_path / "scenarios", "faults: []\n", "crisis.yml")
    assert find_scenario("outage", [tmp_path]) == direct
    assert find_scenario("crisis", [tmp_path]) == nested
    assert find_scenario("scenarios/crisis.yml", [tmp_path]) == nested
    assert find_scenario(str(direct), [tmp_path / "elsewhere"]) == direct
    with pytest.raises(ChaosConfigError) as info:
        find_scenario("missing", [tmp_path])
    message = str(info.value)
    assert "scenario 'missing' not found" in message
    assert str(tmp_path / "missing.yaml") in message
    assert str(tmp_path / "scenarios" / "missing.yml") in message


def test_scenario_that_is_not_utf8_names_the_file_and_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(ChaosConfigError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert "not UTF-8" in str(info.value)
    assert "0xe9" in str(info.value)


def test_scenario_fault_arguments_get_the_marker_checks(tmp_path: Path) -> None:
    message = _load_error(tmp_path, "faults:\n  - {kind: crash, target: 'pric['}\n")
    assert "fault #1" in message
    assert "target='pric['" in message


# ------------------------------------------------------------------ fault checks
@pytest.mark.parametrize("pattern", ["pric[", "a[!", "[]", "x[!]"])
def test_unclosed_glob_is_refused(pattern: str) -> None:
    with pytest.raises(ChaosConfigError, match="never closed"):
        check_glob(pattern, "target")


@pytest.mark.parametrize("pattern", ["*", "pric*", "pric[ei]ng", "[[]x", "[]]", "[!]]", "a?b"])
def test_closed_globs_pass(pattern: str) -> None:
    check_glob(pattern, "target")


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ChaosConfigError) as info:
        parse_fault("delay", {"target": "a", "seconds": value})
    assert f"seconds={value!r}" in str(info.value)
    assert "finite" in str(info.value)


def test_checked_fault_builds_good_faults() -> None:
    fault = parse_fault("message_drop", {"sender": "a[bc]", "receiver": "*"})
    assert fault.kind == "message_drop"


# ------------------------------------------------------------------ output paths
def test_output_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(ChaosConfigError) as info:
        check_output_path(tmp_path / "file" / "deeper" / "x.db", "--chaos-db")
    assert "--chaos-db=" in str(info.value)
    assert "is a file, not a folder" in str(info.value)


def test_output_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ChaosConfigError, match="is a directory"):
        check_output_path(tmp_path, "--chaos-report")


def test_output_path_in_missing_folders_is_fine(tmp_path: Path) -> None:
    check_output_path(tmp_path / "new" / "deeper" / "x.db", "--chaos-db")


# ------------------------------------------------------------------ redaction
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--openai-key=sk-abc"], ["--openai-key=***"]),
        (["--api-token", "t0ken", "-q"], ["--api-token", "***", "-q"]),
        (["-o", "db_password=hunter2"], ["-o", "db_password=***"]),
        (["--client-secret=x", "--chaos-db=s.db"], ["--client-secret=***", "--chaos-db=s.db"]),
        (["--label=sk-proj-" + "a1B2" * 8], ["--label=***"]),
        (["-k", "ghp_" + "x" * 36], ["-k", "***"]),
        (["--hdr=Bearer abcdefghijklmnop0123"], ["--hdr=Bearer ***"]),
        (["AKIA" + "A" * 16], ["***"]),
        (["tests/test_token.py::test_x", "-k", "key and not slow"], None),
        (["--chaos", "--chaos-seed=12", "-n", "2"], None),
    ],
)
def test_redact_args(args: list[str], expected: list[str] | None) -> None:
    assert redact_args(args) == (args if expected is None else expected)

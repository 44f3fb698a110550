"""The plugin's command-line options and ini keys, and reading them into SessionSettings.

Every setting is a flag and an ini key; the flag wins. Values are validated once, here, with a
message naming the bad value and the good ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_agentchaos.config.settings import (
    DEFAULT_PATH,
    SessionSettings,
    check_output_path,
    parse_rate,
    parse_report_path,
    parse_runs,
    parse_seconds,
    parse_seed,
    parse_strategies,
)
from pytest_agentchaos.errors import ChaosConfigError

OPTIONS: tuple[tuple[str, str, str], ...] = (
    # (option, ini key, help)
    ("--chaos-seed", "chaos_seed", "session seed: the same seed replays the same fault schedule"),
    ("--chaos-runs", "chaos_runs", "run each chaos test N times, each with its own derived seed"),
    ("--chaos-db", "chaos_db", f"event store path (default {DEFAULT_PATH})"),
    (
        "--chaos-strategy",
        "chaos_strategy",
        "recovery strategies to try, in order, comma-separated (default: none, only observe)",
    ),
    (
        "--chaos-deadline",
        "chaos_deadline",
        "seconds a hanging or looping agent blocks before it surfaces as a timeout (default 1.0)",
    ),
    (
        "--chaos-min-recovery-rate",
        "chaos_min_recovery_rate",
        "fail the session if the recovery rate is below this (0..1)",
    ),
    (
        "--chaos-max-mttr",
        "chaos_max_mttr",
        "fail the session if MTTR p95 exceeds this many seconds",
    ),
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentchaos", "chaos testing of LLM agents (pytest-agentchaos)")
    group.addoption(
        "--chaos",
        action="store_true",
        default=None,
        help="inject the faults of chaos markers; without it they are inert",
    )
    parser.addini("chaos", "inject faults (like --chaos)", type="bool", default=False)
    for option, ini, text in OPTIONS:
        group.addoption(option, dest=ini, default=None, metavar="VALUE", help=text)
        parser.addini(ini, text, default=None)
    group.addoption(
        "--chaos-report",
        dest="chaos_report",
        action="append",
        default=None,
        metavar="PATH",
        help="write the report here; repeatable; format from the suffix: .json .md .csv .html",
    )
    parser.addini("chaos_report", "report paths (like --chaos-report)", type="linelist", default=[])


def _setting(config: pytest.Config, name: str) -> tuple[Any, str]:
    value = config.getoption(name)
    if value is not None:
        return value, "--" + name.replace("_", "-")
    return config.getini(name), f"ini {name}"


def _enabled(config: pytest.Config) -> bool:
    cli_enabled = config.getoption("chaos")
    if cli_enabled is not None:
        return bool(cli_enabled)
    try:
        return bool(config.getini("chaos"))
    except (ValueError, pytest.UsageError) as error:
        # pytest's "invalid truth value 'maybe'" names neither the key nor the choices.
        value = str(error).rpartition("invalid truth value ")[2]
        raise ChaosConfigError(
            f"ini chaos={value}: must be true or false (also yes/no, on/off, 1/0)"
        ) from None


def _report_paths(config: pytest.Config) -> tuple[Path, ...]:
    cli = config.getoption("chaos_report")
    paths, source = (
        (cli, "--chaos-report") if cli else (config.getini("chaos_report"), "ini chaos_report")
    )
    return tuple(parse_report_path(path, source) for path in paths)


def check_output_paths(config: pytest.Config, settings: SessionSettings) -> None:
    """The store and the reports can be written: checked at start-up, not after the suite."""
    check_output_path(settings.db, _setting(config, "chaos_db")[1])
    source = "--chaos-report" if config.getoption("chaos_report") else "ini chaos_report"
    for path in settings.reports:
        check_output_path(path.absolute(), source)


def read_session_settings(config: pytest.Config) -> SessionSettings:
    enabled = _enabled(config)
    parsed: dict[str, Any] = {}
    for name, parse in (
        ("chaos_seed", parse_seed),
        ("chaos_runs", parse_runs),
        ("chaos_min_recovery_rate", parse_rate),
    ):
        value, source = _setting(config, name)
        parsed[name] = parse(value, source) if value not in (None, "") else None
    strategy, strategy_source = _setting(config, "chaos_strategy")
    deadline, deadline_source = _setting(config, "chaos_deadline")
    mttr, mttr_source = _setting(config, "chaos_max_mttr")
    db, _ = _setting(config, "chaos_db")
    extra = []
    if parsed["chaos_runs"] and parsed["chaos_runs"] > 1:
        extra.append(f"--chaos-runs={parsed['chaos_runs']}")
    if strategy not in (None, ""):
        extra.append(f"--chaos-strategy={','.join(parse_strategies(strategy, strategy_source))}")
    return SessionSettings(
        enabled=enabled,
        seed=parsed["chaos_seed"],
        runs=parsed["chaos_runs"] or 1,
        # Absolute now: a test that changes directory must not move the store under a worker.
        db=(Path(db) if db else DEFAULT_PATH).absolute(),
        reports=_report_paths(config),
        strategies=parse_strategies(strategy, strategy_source)
        if strategy not in (None, "")
        else None,
        strategies_from_cli=strategy_source.startswith("--"),
        deadline_s=parse_seconds(deadline, deadline_source, positive=True)
        if deadline not in (None, "")
        else None,
        deadline_from_cli=deadline_source.startswith("--"),
        min_recovery_rate=parsed["chaos_min_recovery_rate"],
        max_mttr_s=parse_seconds(mttr, mttr_source) if mttr not in (None, "") else None,
        extra_reproduce_args=tuple(extra),
    )

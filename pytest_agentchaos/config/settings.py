"""Every setting, validated once, with a message naming the bad value and the good ones.

Session settings come from the command line, else the ini file. Per-test settings (strategy,
deadline, retry) resolve command line > ``chaos_settings`` marker > ``agentchaos_config`` > ini.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pytest_agentchaos.errors import ChaosConfigError

#: Where the event store lives unless ``--chaos-db`` says otherwise.
DEFAULT_PATH = Path(".agentchaos") / "events.db"
#: Report file formats, by suffix.
REPORT_FORMATS = (".json", ".md", ".csv", ".html")


@dataclass(frozen=True)
class RunSettings:
    """Per-test settings, resolved from command line > marker > agentchaos_config > ini."""

    strategies: tuple[str, ...] = ()
    deadline_s: float = 1.0
    retry_attempts: int = 3
    retry_backoff_s: float = 0.01


#: Keys accepted by the ``chaos_settings`` marker and the ``agentchaos_config`` fixture.
TEST_SETTING_KEYS = ("strategy", "deadline", "retry_attempts", "retry_backoff")


MAX_SEED = 2**63 - 1  # SQLite's INTEGER
_Number = TypeVar("_Number", int, float)


def _parse_number(
    value: object,
    source: str,
    convert: Callable[[str], _Number],
    accept: Callable[[_Number], bool],
    allowed: str,
) -> _Number:
    """``value`` converted and checked, or an error naming it and what is allowed."""
    try:
        number = convert(str(value).strip())
    except ValueError:
        number = None
    if number is None or not accept(number):
        raise ChaosConfigError(f"{source}={value!r}: must be {allowed}")
    return number


def parse_seed(value: object, source: str = "--chaos-seed") -> int:
    return _parse_number(
        value,
        source,
        int,
        lambda seed: 0 <= seed <= MAX_SEED,
        f"a whole number from 0 to {MAX_SEED}",
    )


def parse_runs(value: object, source: str = "--chaos-runs") -> int:
    return _parse_number(value, source, int, lambda runs: runs >= 1, "a whole number >= 1")


def parse_rate(value: object, source: str = "--chaos-min-recovery-rate") -> float:
    return _parse_number(
        value, source, float, lambda rate: 0.0 <= rate <= 1.0, "a number from 0 to 1"
    )


def parse_seconds(value: object, source: str, *, positive: bool = False) -> float:
    return _parse_number(
        value,
        source,
        float,
        lambda s: math.isfinite(s) and (s > 0 if positive else s >= 0),
        f"a finite number of seconds {'> 0' if positive else '>= 0'}",
    )


def parse_strategies(value: object, source: str = "--chaos-strategy") -> tuple[str, ...]:
    """A comma-separated list (or a list) of strategy names, in order, without repeats."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    names = tuple(str(item).strip() for item in items if str(item).strip())
    if len(set(names)) != len(names):
        raise ChaosConfigError(f"{source}={value!r}: a strategy is named twice")
    return names


def parse_report_path(value: object, source: str = "--chaos-report") -> Path:
    path = Path(str(value))
    if path.suffix.lower() not in REPORT_FORMATS:
        raise ChaosConfigError(
            f"{source}={value!r}: unknown report format {path.suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(REPORT_FORMATS)}"
        )
    return path


def check_output_path(path: Path, source: str) -> None:
    """A file the session will create or overwrite at ``path`` can be written: checked at
    start-up, so a bad path stops the session before any test runs, naming the reason."""
    if path.is_dir():
        raise ChaosConfigError(f"{source}={str(path)!r}: is a directory, not a file")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ChaosConfigError(
            f"{source}={str(path)!r}: cannot be created: {str(folder)!r} is a file, not a folder"
        )
    # The deepest folder that exists must take new entries, or the file itself be writable.
    target = path if path.exists() else folder
    if not os.access(target, os.W_OK):
        what = "file" if target is path else "folder"
        raise ChaosConfigError(
            f"{source}={str(path)!r}: cannot be written: {what} {str(target)!r} is read-only"
        )


@dataclass(frozen=True)
class SessionSettings:
    enabled: bool = False
    seed: int | None = None
    runs: int = 1
    db: Path = DEFAULT_PATH
    reports: tuple[Path, ...] = ()
    strategies: tuple[str, ...] | None = None  # None: not given on the command line or ini
    strategies_from_cli: bool = False
    deadline_s: float | None = None
    deadline_from_cli: bool = False
    min_recovery_rate: float | None = None
    max_mttr_s: float | None = None
    extra_reproduce_args: tuple[str, ...] = field(default=())


def check_test_settings(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Validate a ``chaos_settings`` marker's or ``agentchaos_config``'s keys and values."""
    checked: dict[str, Any] = {}
    for key, value in values.items():
        if key not in TEST_SETTING_KEYS:
            raise ChaosConfigError(
                f"{source}: unknown setting {key!r}; allowed: {', '.join(TEST_SETTING_KEYS)}"
            )
        if key == "strategy":
            checked[key] = parse_strategies(value, f"{source} strategy")
        elif key == "deadline":
            checked[key] = parse_seconds(value, f"{source} deadline", positive=True)
        elif key == "retry_attempts":
            checked[key] = parse_runs(value, f"{source} retry_attempts")
        else:
            checked[key] = parse_seconds(value, f"{source} retry_backoff")
    return checked


def resolve_run_settings(
    session: SessionSettings, marker: Mapping[str, Any], fixture: Mapping[str, Any]
) -> RunSettings:
    """Per-test settings: command line > marker > agentchaos_config > ini > default."""
    merged: dict[str, Any] = {}
    if session.strategies is not None and not session.strategies_from_cli:
        merged["strategy"] = session.strategies
    if session.deadline_s is not None and not session.deadline_from_cli:
        merged["deadline"] = session.deadline_s
    merged.update(fixture)
    merged.update(marker)
    if session.strategies_from_cli and session.strategies is not None:
        merged["strategy"] = session.strategies
    if session.deadline_from_cli and session.deadline_s is not None:
        merged["deadline"] = session.deadline_s
    defaults = RunSettings()
    return RunSettings(
        strategies=tuple(merged.get("strategy", defaults.strategies)),
        deadline_s=float(merged.get("deadline", defaults.deadline_s)),
        retry_attempts=int(merged.get("retry_attempts", defaults.retry_attempts)),
        retry_backoff_s=float(merged.get("retry_backoff", defaults.retry_backoff_s)),
    )

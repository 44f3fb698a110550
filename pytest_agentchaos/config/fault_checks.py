"""Fault arguments that the fault models accept but that could never work as written.

Markers and scenarios build their faults through :func:`checked_fault`, so such a value is a
usage error at collection instead of a failure (or a fault that never fires) in the test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.model.faults import FaultSpec, parse_fault

__all__ = ["GLOB_ARGUMENTS", "check_glob", "checked_fault"]


#: Arguments that select agents or messages by name or glob.
GLOB_ARGUMENTS = ("target", "sender", "receiver")


def checked_fault(kind: str, arguments: Mapping[str, Any]) -> FaultSpec:
    """:func:`parse_fault`, and what the model lets through but would fail at run time: an
    infinite or NaN number (``seconds=float("inf")`` overflows the first wait), a glob that
    can never match as written (``"pric["``)."""
    for name, value in arguments.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ChaosConfigError(f"{kind}: argument {name}={value!r}: must be a finite number")
        if name in GLOB_ARGUMENTS and isinstance(value, str):
            check_glob(value, f"{kind}: argument {name}")
    return parse_fault(kind, arguments)


def check_glob(pattern: str, source: str) -> None:
    """A ``[`` opens a character set in a glob: one that is never closed matches only a
    literal ``[``, which is never what was meant."""
    index = 0
    while index < len(pattern):
        if pattern[index] != "[":
            index += 1
            continue
        end = index + 1
        if end < len(pattern) and pattern[end] == "!":
            end += 1
        if end < len(pattern) and pattern[end] == "]":
            end += 1  # fnmatch: a "]" right after "[" (or "[!") belongs to the set
        end = pattern.find("]", end)
        if end == -1:
            raise ChaosConfigError(
                f"{source}={pattern!r}: not a valid glob: the '[' at position {index} is never "
                "closed; write '[[]' for a literal '['"
            )
        index = end + 1

"""The seeded fault schedule.

Every decision to fire is a pure function of (test seed, fault index, selector, call number):
no generator state is consumed, so the same seed fires the same faults at the same calls however
calls interleave across threads, tasks or xdist workers.
"""

from __future__ import annotations

import hashlib
import random

from pytest_agentchaos.model.faults import FaultSpec

_UNIT = float(1 << 64)


def derive_seed(session_seed: int, nodeid: str, repetition: int = 0) -> int:
    """The seed of one test run, from the session seed, the test id and the repetition."""
    digest = hashlib.blake2b(
        f"{session_seed}\x00{nodeid}\x00{repetition}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") >> 1  # keep it a positive 63-bit int for SQLite


def draw_session_seed() -> int:
    """A fresh seed for a session run without ``--chaos-seed``; printed so it can be replayed."""
    return random.SystemRandom().randrange(1, 2**31)


def unit_draw(seed: int, *parts: object) -> float:
    """A number in [0, 1) that depends only on ``seed`` and ``parts``."""
    key = "\x00".join(str(part) for part in (seed, *parts)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / _UNIT


def should_fire(
    spec: FaultSpec, seed: int, index: int, selector: str, call_number: int, fired: int
) -> bool:
    """Whether fault ``index`` fires at call ``call_number`` of ``selector``.

    ``fired`` is how often this fault has fired already in the run (``times`` caps it).
    """
    if spec.times is not None and fired >= spec.times:
        return False
    if spec.at_call is not None and call_number not in spec.at_call:
        return False
    if spec.probability >= 1.0:
        return True
    if spec.probability <= 0.0:
        return False
    return unit_draw(seed, index, selector, call_number) < spec.probability


def rng_for(seed: int, *parts: object) -> random.Random:
    """A generator for the choices a firing makes (which field, which wrong value)."""
    return random.Random(int(unit_draw(seed, "rng", *parts) * _UNIT))

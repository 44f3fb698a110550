"""The seeded fault schedule.

Every decision to fire is a pure function of (test seed, fault index, selector, call number):
no generator state is consumed, so the same seed fires the same faults at the same calls however
calls interleave across threads, tasks or xdist workers.
"""

from __future__ import annotations

import functools
import hashlib
import random

from pytest_agentchaos.model.faults import FaultSpec

_UNIT = float(1 << 64)
_MASK64 = (1 << 64) - 1
_GOLDEN64 = 0x9E3779B97F4A7C15  # SplitMix64's step: 2**64 / the golden ratio


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


def _mix64(x: int) -> int:
    """SplitMix64's finalizer: each input bit flips about half of the output bits."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


@functools.lru_cache(maxsize=4096)
def _stream(seed: int, index: int, selector: str) -> int:
    """The start of the draws of fault ``index`` at ``selector``: hashed once, then cached."""
    selector_key = int.from_bytes(hashlib.blake2b(selector.encode(), digest_size=8).digest())
    return _mix64((_mix64((seed & _MASK64) ^ selector_key) + index * _GOLDEN64) & _MASK64)


def fire_draw(seed: int, index: int, selector: str, call_number: int) -> float:
    """The number in [0, 1) that decides whether fault ``index`` fires at a call.

    A SplitMix64 stream per (seed, fault, selector), at position ``call_number``: a pure
    function of its arguments like :func:`unit_draw`, at a fraction of the cost of hashing a
    formatted string on every armed call.
    """
    position = (_stream(seed, index, selector) + call_number * _GOLDEN64) & _MASK64
    return (_mix64(position) >> 11) * 2.0**-53


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
    return fire_draw(seed, index, selector, call_number) < spec.probability


def rng_for(seed: int, *parts: object) -> random.Random:
    """A generator for the choices a firing makes (which field, which wrong value)."""
    return random.Random(int(unit_draw(seed, "rng", *parts) * _UNIT))

"""Kill points and the effect ledger of a crash-sweep child process.

In a sweep child, every instrumented node reports to the ledger (a directory that outlives the
process): each execution of its body, and the kill. A side-effecting node's effect is recorded
with its idempotency key as it happens, so a later process replays it instead of repeating it,
the way an external system honours an idempotency key. Elsewhere the probe is ``None`` and a
node pays one global read.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import pickle
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_agentchaos.integrations.langgraph.keys import node_key

__all__ = ["Probe", "install", "probed", "read_ledger"]

_MISSING = object()


class Probe:
    """One sweep child's view of the ledger and of where it must die."""

    def __init__(self, ledger: Path, kill_node: str | None, kill_when: str | None) -> None:
        self.ledger = ledger
        self.kill_at = (kill_node, kill_when) if kill_node else None
        (ledger / "effects").mkdir(parents=True, exist_ok=True)
        # O_APPEND writes reach the kernel at once: a SIGKILL right after loses none of them.
        self._fd = os.open(ledger / "events.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    def log(self, event: str, node: str, key: str | None = None) -> None:
        line = json.dumps({"event": event, "node": node, "key": key, "pid": os.getpid()})
        os.write(self._fd, (line + "\n").encode())

    def _effect_path(self, node: str, key: str) -> Path:
        digest = hashlib.sha256(f"{node}\0{key}".encode()).hexdigest()
        return self.ledger / "effects" / f"{digest}.pickle"

    def before(self, node: str, side_effect: bool, args: tuple[Any, ...]) -> tuple[str | None, Any]:
        """Before a node runs: its key, and its recorded result if the effect already happened."""
        key = node_key(*args[:1]) if side_effect and args else None
        if key is not None:
            path = self._effect_path(node, key)
            if path.exists():
                self.log("replayed", node, key)
                return key, pickle.loads(path.read_bytes())
        self._maybe_die(node, "before")
        self.log("ran", node, key)
        return key, _MISSING

    def after(self, node: str, key: str | None, result: Any) -> None:
        """The node's body returned: its effect happened; record it, then maybe die."""
        if key is not None:
            path = self._effect_path(node, key)
            partial = path.with_suffix(".tmp")
            partial.write_bytes(pickle.dumps(result))
            os.replace(partial, path)
            self.log("effect", node, key)
        self._maybe_die(node, "after")

    def _maybe_die(self, node: str, when: str) -> None:
        if self.kill_at == (node, when):
            self.kill_at = None
            self.log("kill", node, when)
            os.kill(os.getpid(), signal.SIGKILL)


_probe: Probe | None = None


def install(probe: Probe | None) -> None:
    """Make ``probe`` this process's probe (only a sweep child does this)."""
    global _probe
    _probe = probe


def probed(fn: Callable[..., Any], name: str, side_effect: bool) -> Callable[..., Any]:
    """``fn``, reporting to the sweep probe when one is installed."""
    if inspect.iscoroutinefunction(fn):

        async def async_probed(*args: Any, **kwargs: Any) -> Any:
            probe = _probe
            if probe is None:
                return await fn(*args, **kwargs)
            key, recorded = probe.before(name, side_effect, args)
            if recorded is not _MISSING:
                return recorded
            result = await fn(*args, **kwargs)
            probe.after(name, key, result)
            return result

        return functools.wraps(fn)(async_probed)

    def sync_probed(*args: Any, **kwargs: Any) -> Any:
        probe = _probe
        if probe is None:
            return fn(*args, **kwargs)
        key, recorded = probe.before(name, side_effect, args)
        if recorded is not _MISSING:
            return recorded
        result = fn(*args, **kwargs)
        probe.after(name, key, result)
        return result

    return functools.wraps(fn)(sync_probed)


def read_ledger(ledger: Path) -> list[dict[str, Any]]:
    """Every ledger event, oldest first (a line cut by the kill is dropped)."""
    path = ledger / "events.jsonl"
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events

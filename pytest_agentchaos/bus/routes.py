"""Who receives what on a message bus: agents registered by name, and topic subscribers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeAlias

from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.model.protocol import Message

__all__ = ["Handler", "Routes"]

#: A handler gets the message and may return a reply: a Message, a full message dict, or a dict
#: of reply parameters; ``None`` (or nothing) replies nothing. It may be ``async``.
Handler: TypeAlias = Callable[[Message], Any]


class Routes:
    """The handlers of one bus: by agent name (point to point) and by topic (publish)."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock  # the bus's lock: registering never races a delivery's planning
        self._handlers: dict[str, Handler] = {}
        self._topics: dict[str, dict[str, Handler]] = {}
        # Who could receive on each topic (None: point to point), sorted and as a set, asked
        # on every delivery a wrong_handoff could act on: kept until the subscriptions change.
        self._receivers: dict[str | None, tuple[tuple[str, ...], frozenset[str]]] = {}

    @property
    def agents(self) -> tuple[str, ...]:
        """Every agent that registered or subscribed, sorted."""
        names = set(self._handlers)
        for subscribers in self._topics.values():
            names.update(subscribers)
        return tuple(sorted(names))

    @property
    def registered(self) -> list[str]:
        """The agents that receive point-to-point messages, sorted."""
        return sorted(self._handlers)

    def register(self, name: str, handler: Handler) -> None:
        _check_agent(name, handler)
        with self._lock:
            if name in self._handlers:
                raise ChaosConfigError(f"agent {name!r} is already registered on this bus")
            self._handlers[name] = handler
            self._receivers.clear()

    def unregister(self, name: str) -> None:
        with self._lock:
            self._handlers.pop(name, None)
            for subscribers in self._topics.values():
                subscribers.pop(name, None)
            self._receivers.clear()

    def subscribe(self, topic: str, name: str, handler: Handler) -> None:
        _check_agent(name, handler)
        if not isinstance(topic, str) or not topic:
            raise ChaosConfigError(f"a topic needs a non-empty name, got {topic!r}")
        with self._lock:
            self._topics.setdefault(topic, {})[name] = handler
            self._receivers.clear()

    def is_registered(self, name: str) -> bool:
        return name in self._handlers

    def subscribers(self, topic: str) -> list[str]:
        return list(self._topics.get(topic, {}))

    def receivers(self, topic: str | None) -> tuple[str, ...]:
        """Who could receive a message sent point to point (``None``) or to ``topic``, sorted."""
        return self._receivers_of(topic)[0]

    def has_others(self, topic: str | None, sender: str, receiver: str) -> bool:
        """Whether anyone but ``sender`` and ``receiver`` could receive on ``topic``."""
        names = self._receivers_of(topic)[1]
        return len(names) > (sender in names) + (receiver in names)

    def _receivers_of(self, topic: str | None) -> tuple[tuple[str, ...], frozenset[str]]:
        found = self._receivers.get(topic)
        if found is None:
            with self._lock:
                names = set(self._handlers)
                if topic is not None:
                    names.update(self._topics.get(topic, {}))
                found = self._receivers[topic] = (tuple(sorted(names)), frozenset(names))
        return found

    def handler_of(self, name: str, topic: str | None) -> Handler | None:
        """``name``'s handler for ``topic``, else its point-to-point handler."""
        if topic is not None:
            handler = self._topics.get(topic, {}).get(name)
            if handler is not None:
                return handler
        return self._handlers.get(name)


def _check_agent(name: object, handler: object) -> None:
    if not isinstance(name, str) or not name:
        raise ChaosConfigError(f"an agent needs a non-empty name, got {name!r}")
    if not callable(handler):
        raise ChaosConfigError(f"the handler of agent {name!r} must be callable, got {handler!r}")

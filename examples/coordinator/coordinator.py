"""The coordinator: routes a deployment through the team over the bus, with its own recovery.

For each step it sends a TASK_ASSIGN request (``bus.request(message, timeout=...)``) to one
agent and waits for the reply. Its strategies, each noted in ``journal``:

- ``retry``: a request that times out (``DeliveryTimeout``) or whose handler failed
  (``DeliveryError``) is sent again, as a new message, at most ``attempts`` times in all;
- ``fallback``: when the knowledge agent stays unreachable, the facts of the service's last
  verified deployment (``cache``) stand in for its answer;
- ``rollback``: when verification fails, the change is undone (saga-style compensation) and the
  deployment re-run from the lookup, at most ``redeploys`` times; when a later step fails for
  good, the change is undone and the coordinator raises ``DeploymentFailed``.

A verification failure is a verdict, not a lost message: it is never retried as such.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from deploy_agents import VerificationFailed

from pytest_agentchaos import DeliveryError, DeliveryTimeout, Message, MessageBus, MessageType


class DeploymentFailed(Exception):
    """The coordinator gave up; the message says whether the change was rolled back."""


class StepFailed(Exception):
    """One agent gave no good answer after every attempt."""


class Rejected(Exception):
    """The verification agent's verdict: the system does not match the request."""


class Note(NamedTuple):
    """One recovery action of the coordinator: which agent, which strategy, and why."""

    agent: str
    strategy: str
    detail: str


@dataclass(frozen=True)
class Deployment:
    change_id: str
    service: str
    version: str
    facts_source: str  # "knowledge", or "cache" when the fallback answered
    steps: list[dict[str, Any]]
    attempts: int  # deployment attempts: 2 after one rollback and re-run


@dataclass
class Coordinator:
    bus: MessageBus
    name: str = "coordinator"
    attempts: int = 3
    timeout: float = 0.1
    backoff: float = 0.005
    redeploys: int = 1
    cache: dict[str, dict[str, Any]] = field(default_factory=dict)
    journal: list[Note] = field(default_factory=list)

    def deploy(self, request: dict[str, Any]) -> Deployment:
        """Look up, build, apply and verify ``request``; roll back and re-run if it fails."""
        service, version, replicas = request["service"], request["version"], request["replicas"]
        wanted = {"service": service, "version": version, "replicas": replicas}
        for attempt in range(1, self.redeploys + 2):
            change_id = f"{request['id']}#{attempt}"
            facts, source = self._lookup(service)
            try:
                script = self._ask("script_builder", "build_script", {**wanted, "facts": facts})
            except StepFailed as failed:
                raise DeploymentFailed(f"{failed}; nothing was changed") from failed
            change = {"change_id": change_id, "service": service, "steps": script["steps"]}
            try:
                self._ask("execution", "apply", change)
                self._ask("verification", "verify", wanted)
            except Rejected as rejected:
                self._compensate(change_id, f"verification failed: {rejected}")
                continue
            except StepFailed as failed:
                self._compensate(change_id, str(failed))
                raise DeploymentFailed(f"{failed}; change {change_id} rolled back") from failed
            if source == "knowledge":  # only facts that passed verification are cached
                self.cache[service] = facts
            return Deployment(change_id, service, version, source, script["steps"], attempt)
        raise DeploymentFailed(
            f"verification of {service} {version} failed {self.redeploys + 1} times; rolled back"
        )

    def _lookup(self, service: str) -> tuple[dict[str, Any], str]:
        try:
            return self._ask("knowledge", "lookup", {"service": service}), "knowledge"
        except StepFailed as failed:
            cached = self.cache.get(service)
            if cached is None:
                raise DeploymentFailed(f"{failed}, and nothing is cached") from failed
            self.journal.append(Note("knowledge", "fallback", "facts of the last deployment"))
            return cached, "cache"

    def _compensate(self, change_id: str, reason: str) -> None:
        self.journal.append(Note("execution", "rollback", f"{change_id}: {reason}"))
        try:
            self._ask("execution", "rollback", {"change_id": change_id})
        except StepFailed as failed:
            raise DeploymentFailed(
                f"{reason}; rolling back {change_id} failed too ({failed}): "
                "the system may be left half-changed"
            ) from failed

    def _ask(self, receiver: str, task: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """One step: a request to ``receiver``, retried on a timeout or a failed handler."""
        pause = self.backoff
        for attempt in range(1, self.attempts + 1):
            message = Message.create(
                MessageType.TASK_ASSIGN, self.name, receiver, task=task, parameters=parameters
            )
            try:
                reply = self.bus.request(message, timeout=self.timeout)
            except DeliveryError as error:
                if isinstance(error.__cause__, VerificationFailed):
                    raise Rejected(str(error.__cause__)) from error
                failure: Exception = error
            except DeliveryTimeout as error:
                failure = error
            else:
                return dict(reply.body.parameters)
            if attempt == self.attempts:
                raise StepFailed(
                    f"{receiver} did not {task} in {self.attempts} attempts: {failure}"
                ) from failure
            self.journal.append(Note(receiver, "retry", f"{type(failure).__name__}: {failure}"))
            time.sleep(pause)
            pause *= 2
        raise ValueError("attempts must be >= 1")

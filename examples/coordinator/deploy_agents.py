"""A deployment team of four message-based agents, and the in-memory system they change.

Each agent is a handler on a message bus: it gets a TASK_ASSIGN message and returns the
parameters of its reply (the bus sends them back as TASK_COMPLETE), or raises. Each handler is
marked with ``pytest_agentchaos.agent``, so agent-layer faults (crash, hang, hallucination) can
target it too; outside a chaos run the mark does nothing.

    knowledge      -> answers a lookup from an in-memory knowledge base
    script_builder -> builds a deployment script (a list of steps) from the knowledge
    execution      -> applies the steps to the system, keeping what it changed so it can be
                      undone (a side effect: one idempotency key per change)
    verification   -> checks the system against the request; raises VerificationFailed

Every agent checks that it was handed a task it does: a misrouted message is refused, not
acted on. The bus checks every message's contract (``validate=True``, its default), so a body
corrupted in transit is rejected before any handler sees it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pytest_agentchaos import Message, MessageBus, agent

#: What the knowledge agent knows about each service.
KNOWLEDGE: dict[str, dict[str, Any]] = {
    "checkout": {"image": "registry.local/checkout", "port": 8443, "health_path": "/healthz"},
}


class UnknownTask(ValueError):
    """An agent was handed a task it does not do (a wrong handoff)."""


class VerificationFailed(Exception):
    """The system does not match the request: ``problems`` says how."""

    def __init__(self, service: str, problems: list[str]) -> None:
        super().__init__(f"{service}: " + "; ".join(problems))
        self.service, self.problems = service, problems


@dataclass
class System:
    """The in-memory system a deployment changes.

    ``services`` is each service's configuration; ``listens_on`` is the port its application
    really listens on, so a wrong port in the configuration fails the health check.
    ``history`` records every change applied and rolled back, in order.
    """

    services: dict[str, dict[str, Any]]
    listens_on: dict[str, int]
    undo: dict[str, list[tuple[str, str, Any]]] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def initial(cls) -> System:
        checkout = {
            "image": "registry.local/checkout:2.4.0",
            "port": 8443,
            "health_path": "/healthz",
            "replicas": 2,
        }
        return cls(services={"checkout": checkout}, listens_on={"checkout": 8443})

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return copy.deepcopy(self.services)

    def apply(self, change_id: str, service: str, steps: list[dict[str, Any]]) -> int:
        """Apply ``steps`` as change ``change_id``, remembering the old values to undo it."""
        config = self.services[service]
        undo = self.undo.setdefault(change_id, [])
        for step in steps:
            undo.append((service, step["set"], config[step["set"]]))
            config[step["set"]] = step["to"]
        self.history.append(("apply", change_id))
        return len(steps)

    def rollback(self, change_id: str) -> int:
        """Undo change ``change_id`` (nothing if it never applied); returns the steps undone."""
        undo = self.undo.pop(change_id, [])
        for service, key, old in reversed(undo):
            self.services[service][key] = old
        self.history.append(("rollback", change_id))
        return len(undo)

    def healthy(self, service: str) -> bool:
        """The health check: is the application reachable on the configured port?"""
        return self.services[service]["port"] == self.listens_on[service]


def _task(message: Message, agent_name: str, *tasks: str) -> str:
    task = message.body.task
    if task not in tasks:
        raise UnknownTask(
            f"{agent_name} does not do {task!r} (it does {', '.join(tasks)}); "
            f"sent by {message.header.sender}"
        )
    return task


class KnowledgeAgent:
    """Answers ``lookup`` from its knowledge base; keeps an audit log of who asked."""

    def __init__(self, facts: dict[str, dict[str, Any]]) -> None:
        self.facts = facts
        self.audit: list[str] = []

    @agent("knowledge")
    def handle(self, message: Message) -> dict[str, Any]:
        _task(message, "knowledge", "lookup")
        service = message.body.parameters["service"]
        if service not in self.facts:
            raise LookupError(f"nothing is known about {service!r}")
        self.audit.append(message.header.sender)
        return dict(self.facts[service])


class ScriptBuilderAgent:
    """Builds the deployment script for a request from the knowledge about its service."""

    @agent("script_builder")
    def handle(self, message: Message) -> dict[str, Any]:
        _task(message, "script_builder", "build_script")
        request: dict[str, Any] = message.body.parameters
        facts: dict[str, Any] = request["facts"]
        steps = [
            {"set": "image", "to": f"{facts['image']}:{request['version']}"},
            {"set": "port", "to": facts["port"]},
            {"set": "health_path", "to": facts["health_path"]},
            {"set": "replicas", "to": request["replicas"]},
        ]
        return {"service": request["service"], "steps": steps}


def change_key(executor: ExecutionAgent, message: Message) -> str:
    """The idempotency key of an execution task: the change it applies or undoes.

    Not the message: a retry is a new message carrying the same change.
    """
    change_id = message.body.parameters.get("change_id", message.header.message_id)
    return f"{message.body.task}:{change_id}"


class ExecutionAgent:
    """Applies a script to the system as one change (``apply``), or undoes one (``rollback``)."""

    def __init__(self, system: System) -> None:
        self.system = system

    @agent("execution", side_effect=True, key=change_key)
    def handle(self, message: Message) -> dict[str, Any]:
        task = _task(message, "execution", "apply", "rollback")
        parameters: dict[str, Any] = message.body.parameters
        change_id = parameters["change_id"]
        if task == "apply":
            applied = self.system.apply(change_id, parameters["service"], parameters["steps"])
            return {"change_id": change_id, "applied": applied}
        return {"change_id": change_id, "undone": self.system.rollback(change_id)}


class VerificationAgent:
    """Checks the system against the request: image version, replicas, health."""

    def __init__(self, system: System) -> None:
        self.system = system

    @agent("verification")
    def handle(self, message: Message) -> dict[str, Any]:
        _task(message, "verification", "verify")
        request: dict[str, Any] = message.body.parameters
        service = request["service"]
        config = self.system.services[service]
        problems = []
        if not config["image"].endswith(f":{request['version']}"):
            problems.append(f"image is {config['image']}, version {request['version']} wanted")
        if config["replicas"] != request["replicas"]:
            problems.append(f"{config['replicas']} replicas, {request['replicas']} wanted")
        if not self.system.healthy(service):
            problems.append(
                f"health check failed: configured port {config['port']}, "
                f"the application listens on {self.system.listens_on[service]}"
            )
        if problems:
            raise VerificationFailed(service, problems)
        return {"service": service, "verified": True}


@dataclass
class Team:
    knowledge: KnowledgeAgent
    script_builder: ScriptBuilderAgent
    execution: ExecutionAgent
    verification: VerificationAgent


def start_team(bus: MessageBus, system: System) -> Team:
    """The four agents, registered on ``bus`` under their names."""
    team = Team(
        knowledge=KnowledgeAgent(KNOWLEDGE),
        script_builder=ScriptBuilderAgent(),
        execution=ExecutionAgent(system),
        verification=VerificationAgent(system),
    )
    bus.register("knowledge", team.knowledge.handle)
    bus.register("script_builder", team.script_builder.handle)
    bus.register("execution", team.execution.handle)
    bus.register("verification", team.verification.handle)
    return team

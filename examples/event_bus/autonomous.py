"""Autonomous mode: an agent that handles each event on its own and retries a failed handling.

The triage agent takes support tickets from ``ticket.opened``, classifies each one (an LLM call
in real life, keyword rules here) and publishes ``ticket.triaged``. Nobody coordinates it: when
classifying a ticket fails it tries again, at most ``retries`` (2) more times; a ticket that
still fails goes to its dead letters and out as ``ticket.failed``.

It remembers how many tickets each customer opened (its ``memory``) to escalate a customer's
third ticket. That memory has no checkpoint: an agent that loses it goes on, unaware.
"""

from __future__ import annotations

from typing import Any

from events import event, fields

from pytest_agentchaos import Message, MessageBus, agent

TICKET_OPENED = "ticket.opened"
TICKET_TRIAGED = "ticket.triaged"
TICKET_FAILED = "ticket.failed"

ESCALATE_AT = 3  # a customer's third ticket is urgent


class Triage:
    name = "triage"

    def __init__(self, bus: MessageBus, retries: int = 2) -> None:
        self.bus, self.retries = bus, retries
        self.memory: dict[str, int] = {}  # customer -> tickets seen
        self.triaged: dict[str, dict[str, Any]] = {}
        self.dead_letters: list[tuple[str, str]] = []  # (ticket id, last error)
        self.attempts = 0
        bus.subscribe(TICKET_OPENED, self.name, self.on_ticket_opened)

    def on_ticket_opened(self, message: Message) -> None:
        ticket = fields(message)
        error: Exception | None = None
        for _ in range(1 + self.retries):
            self.attempts += 1
            try:
                verdict = self.classify(ticket)
            except Exception as failure:  # any failure of one handling: try again
                error = failure
                continue
            self.triaged[ticket["ticket_id"]] = verdict
            self.bus.publish(TICKET_TRIAGED, event(TICKET_TRIAGED, self.name, **verdict))
            return
        self.dead_letters.append((ticket["ticket_id"], repr(error)))
        self.bus.publish(
            TICKET_FAILED, event(TICKET_FAILED, self.name, ticket_id=ticket["ticket_id"])
        )

    @agent("triage")
    def classify(self, ticket: dict[str, Any]) -> dict[str, Any]:
        customer = ticket["customer"]
        seen = self.memory[customer] = self.memory.get(customer, 0) + 1
        text = ticket["text"].lower()
        category = "billing" if "invoice" in text or "charge" in text else "technical"
        urgent = seen >= ESCALATE_AT or "outage" in text
        return {
            "ticket_id": ticket["ticket_id"],
            "customer": customer,
            "category": category,
            "priority": "urgent" if urgent else "normal",
        }


def open_ticket(bus: MessageBus, ticket_id: str, customer: str, text: str) -> None:
    """What the help desk publishes for a new ticket."""
    bus.publish(
        TICKET_OPENED,
        event(TICKET_OPENED, "helpdesk", ticket_id=ticket_id, customer=customer, text=text),
    )

"""The semantic handshake: two agents align their terms over the bus before a handoff.

Five steps, each a protocol message (sender S, receiver R):

1. **init** -- S: REQUEST_CONTEXT ``handshake.init`` with its terms, their ontology definitions
   and their embeddings;
2. **verify** -- R: PROVIDE_CONTEXT with, per term, R's closest term and the similarity of the
   two "term: definition" texts; above ``accept`` a match, below ``reject`` no counterpart,
   between them a conflict;
3. **negotiate** -- S: NEGOTIATE_TERM per conflict, with its definition; R scores the two
   definitions alone and looks the pair up in the ontology's alias table: the pair is merged only
   when the ontology names them one concept, else kept apart under S's definition (embeddings
   find candidates and flag conflicts; they do not decide that "margin" is "markup");
4. **accept** -- R: PROVIDE_CONTEXT with its decision per negotiated term;
5. **complete** -- S: TASK_COMPLETE ``handshake.complete`` with the agreed mapping.

The scores and the outcome are events of the current chaos run (when there is one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, JsonValue, TypeAdapter

from ecommerce_swarm.ontology import DEFINITIONS, SAME_CONCEPT, VOCABULARY
from pytest_agentchaos import record_event
from pytest_agentchaos.bus import MessageBus
from pytest_agentchaos.protocol import Message, MessageType
from pytest_agentchaos.semantic import Embedder, cosine

#: "term: definition" similarity thresholds, measured on the ontology with both embedders
#: (docs/semantic.md shows the scores): MiniLM scores every same-concept pair >= 0.635 and every
#: other pair <= 0.594; a related-but-different pair (a conflict) >= 0.568.
ACCEPT = 0.62
REJECT = 0.45


@dataclass(frozen=True)
class Agreement:
    """What two agents agreed: ``mapping`` (S's term -> R's term) and terms kept apart."""

    sender: str
    receiver: str
    embedder: str
    mapping: dict[str, str]
    kept_apart: dict[str, str]  # S's term -> its definition, which R adopted beside its own
    scores: dict[str, float] = field(default_factory=dict)
    verdicts: dict[str, str] = field(default_factory=dict)  # S's term -> match/conflict/none

    @property
    def definitions(self) -> dict[str, str]:
        """For a message's ``semantic_definitions``: what each of S's terms means to R."""
        merged = {term: f"same as {theirs!r}" for term, theirs in self.mapping.items()}
        return {**merged, **self.kept_apart}


class Verdict(BaseModel):
    """R's verdict on one of S's terms (the verify step)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    best: str
    score: float
    verdict: Literal["match", "conflict", "none"]


class Decision(BaseModel):
    """R's decision on one negotiated term (the accept step)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    term: str
    candidate: str
    score: float
    decision: Literal["merge", "keep_apart"]


_VERDICTS = TypeAdapter(dict[str, Verdict])
_DECISION = TypeAdapter(Decision)
_EMBEDDINGS = TypeAdapter(dict[str, list[float]])
_NEGOTIATION = TypeAdapter(dict[str, str])


def verdict(score: float) -> str:
    """``match``, ``conflict`` (negotiate) or ``none``, for a "term: definition" similarity."""
    return "match" if score >= ACCEPT else "none" if score < REJECT else "conflict"


def _text(term: str) -> str:
    return f"{term}: {DEFINITIONS[term]}"


class Responder:
    """R's side of the handshake: registered on the bus under R's name."""

    def __init__(self, name: str, embedder: Embedder) -> None:
        self.name = name
        self.embedder = embedder
        self.terms = VOCABULARY[name]
        self._own = embedder.embed([_text(t) for t in self.terms])

    def verify(self, message: Message) -> dict[str, Any]:
        # A receiver checks what it gets: a malformed init fails the request (DeliveryError).
        embeddings = _EMBEDDINGS.validate_python(message.body.parameters.get("embeddings"))
        verdicts: dict[str, Any] = {}
        for term, vector in embeddings.items():
            own_terms = zip(self._own, self.terms, strict=True)
            scored = [(cosine(vector, own), mine) for own, mine in own_terms]
            score, best = max(scored)
            verdicts[term] = {"best": best, "score": round(score, 4), "verdict": verdict(score)}
        return {"verdicts": verdicts}

    def negotiate(self, message: Message) -> dict[str, Any]:
        asked = _NEGOTIATION.validate_python(message.body.parameters)
        term, theirs = asked["term"], asked["candidate"]
        score = self.embedder.similarity(
            message.body.semantic_definitions[term], DEFINITIONS[theirs]
        )
        decision = "merge" if frozenset((term, theirs)) in SAME_CONCEPT else "keep_apart"
        return {"term": term, "candidate": theirs, "score": round(score, 4), "decision": decision}

    def handle(self, message: Message) -> dict[str, Any] | None:
        task = message.body.task
        if task == "handshake.init":
            return self.verify(message)
        if task == "handshake.negotiate":
            return self.negotiate(message)
        return None  # handshake.complete: nothing to answer


def handshake(
    bus: MessageBus, sender: str, receiver: str, embedder: Embedder, timeout: float = 1.0
) -> Agreement:
    """Run the five steps from ``sender`` to ``receiver`` (whose :class:`Responder` is on the
    bus); returns what they agreed."""
    terms = VOCABULARY[sender]
    definitions = {t: DEFINITIONS[t] for t in terms}
    vectors = embedder.embed([_text(t) for t in terms])
    rounded: dict[str, JsonValue] = {
        term: [round(x, 6) for x in vector] for term, vector in zip(terms, vectors, strict=True)
    }
    init = Message.create(
        MessageType.REQUEST_CONTEXT,
        sender,
        receiver,
        task="handshake.init",
        parameters={
            "embedder": embedder.name,
            "embeddings": rounded,
        },
        semantic_definitions=definitions,
    )
    reply = bus.request(init, timeout=timeout).body.parameters.get("verdicts")
    verdicts = _VERDICTS.validate_python(reply)  # the sender checks what it is told, too
    mapping: dict[str, str] = {}
    kept_apart: dict[str, str] = {}
    scores: dict[str, float] = {}
    for term, found in sorted(verdicts.items()):
        best = found.best
        scores[f"{term} ~ {best}"] = found.score
        if found.verdict == "match":
            mapping[term] = best
        elif found.verdict == "conflict":
            ask = Message.create(
                MessageType.NEGOTIATE_TERM,
                sender,
                receiver,
                task="handshake.negotiate",
                parameters={"term": term, "candidate": best},
                semantic_definitions={term: definitions[term]},
            )
            answer = _DECISION.validate_python(bus.request(ask, timeout=timeout).body.parameters)
            scores[f"{term} ~ {best} (definitions)"] = answer.score
            if answer.decision == "merge":
                mapping[term] = best
            else:
                kept_apart[term] = definitions[term]
    kept: list[JsonValue] = [*sorted(kept_apart)]
    agreement = Agreement(
        sender,
        receiver,
        embedder.name,
        mapping,
        kept_apart,
        scores,
        {term: found.verdict for term, found in verdicts.items()},
    )
    done = Message.create(
        MessageType.TASK_COMPLETE,
        sender,
        receiver,
        task="handshake.complete",
        parameters={"mapping": dict(mapping), "kept_apart": kept},
    )
    bus.send(done)
    payload = {
        "receiver": receiver,
        "embedder": embedder.name,
        "scores": scores,
        "mapping": mapping,
        "kept_apart": sorted(kept_apart),
    }
    record_event(sender, "semantic_handshake", payload)
    return agreement

"""The semantic handshake: two agents align their terms over the bus before a handoff.

Five steps, each a protocol message (sender S, receiver R):

1. **init** -- S: REQUEST_CONTEXT ``handshake.init`` with its terms, their ontology definitions
   and their embeddings;
2. **verify** -- R: PROVIDE_CONTEXT with, per term, R's closest term and the similarity of the
   two "term: definition" texts; above ``accept`` a match, below ``reject`` no counterpart,
   between them a conflict;
3. **negotiate** -- S: NEGOTIATE_TERM per conflict, with its definition; R compares the
   definitions alone, and the pair is merged only above ``accept``, else kept apart under S's
   definition;
4. **accept** -- R: PROVIDE_CONTEXT with its decision per negotiated term;
5. **complete** -- S: TASK_COMPLETE ``handshake.complete`` with the agreed mapping.

The scores and the outcome are events of the current chaos run (when there is one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue

from ecommerce_swarm.ontology import DEFINITIONS, VOCABULARY
from pytest_agentchaos import current_run
from pytest_agentchaos.bus import MessageBus
from pytest_agentchaos.protocol import Message, MessageType
from pytest_agentchaos.semantic import Embedder, cosine

#: "term: definition" similarity thresholds, measured on the ontology with both embedders
#: (docs/semantic.md shows the scores).
ACCEPT = 0.75
REJECT = 0.35


@dataclass(frozen=True)
class Agreement:
    """What two agents agreed: ``mapping`` (S's term -> R's term) and terms kept apart."""

    sender: str
    receiver: str
    embedder: str
    mapping: dict[str, str]
    kept_apart: dict[str, str]  # S's term -> its definition, which R adopted beside its own
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def definitions(self) -> dict[str, str]:
        """For a message's ``semantic_definitions``: what each of S's terms means to R."""
        merged = {term: f"same as {theirs!r}" for term, theirs in self.mapping.items()}
        return {**merged, **self.kept_apart}


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
        embeddings = message.body.parameters["embeddings"]
        assert isinstance(embeddings, dict)
        verdicts: dict[str, Any] = {}
        for term, vector in embeddings.items():
            assert isinstance(vector, list)
            floats = [float(x) for x in vector]  # type: ignore[arg-type]
            own_terms = zip(self._own, self.terms, strict=True)
            scored = [(cosine(floats, own), mine) for own, mine in own_terms]
            score, best = max(scored)
            verdict = "match" if score >= ACCEPT else "none" if score < REJECT else "conflict"
            verdicts[term] = {"best": best, "score": round(score, 4), "verdict": verdict}
        return {"verdicts": verdicts}

    def negotiate(self, message: Message) -> dict[str, Any]:
        term = str(message.body.parameters["term"])
        theirs = str(message.body.parameters["candidate"])
        score = self.embedder.similarity(
            message.body.semantic_definitions[term], DEFINITIONS[theirs]
        )
        decision = "merge" if score >= ACCEPT else "keep_apart"
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
    verdicts = bus.request(init, timeout=timeout).body.parameters["verdicts"]
    assert isinstance(verdicts, dict)
    mapping: dict[str, str] = {}
    kept_apart: dict[str, str] = {}
    scores: dict[str, float] = {}
    for term, verdict in sorted(verdicts.items()):
        best, score = str(verdict["best"]), float(verdict["score"])  # type: ignore[index, call-overload, arg-type]
        scores[f"{term} ~ {best}"] = score
        if verdict["verdict"] == "match":  # type: ignore[index, call-overload]
            mapping[term] = best
        elif verdict["verdict"] == "conflict":  # type: ignore[index, call-overload]
            ask = Message.create(
                MessageType.NEGOTIATE_TERM,
                sender,
                receiver,
                task="handshake.negotiate",
                parameters={"term": term, "candidate": best},
                semantic_definitions={term: definitions[term]},
            )
            answer = bus.request(ask, timeout=timeout).body.parameters
            scores[f"{term} ~ {best} (definitions)"] = float(answer["score"])  # type: ignore[arg-type]
            if answer["decision"] == "merge":
                mapping[term] = best
            else:
                kept_apart[term] = definitions[term]
    kept: list[JsonValue] = [*sorted(kept_apart)]
    agreement = Agreement(sender, receiver, embedder.name, mapping, kept_apart, scores)
    done = Message.create(
        MessageType.TASK_COMPLETE,
        sender,
        receiver,
        task="handshake.complete",
        parameters={"mapping": dict(mapping), "kept_apart": kept},
    )
    bus.send(done)
    run = current_run()
    if run is not None:
        payload = {
            "receiver": receiver,
            "embedder": embedder.name,
            "scores": scores,
            "mapping": mapping,
            "kept_apart": sorted(kept_apart),
        }
        run.record(sender, "semantic_handshake", None, payload)
    return agreement

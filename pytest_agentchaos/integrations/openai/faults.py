"""What each LLM fault does to one request of a chaos-enabled client, and to its answer.

An :class:`Exchange` is one request during a chaos run: it counts the request, records it, picks
the armed faults that fire, and then

- ``api_error`` and ``delay`` act before sending (:meth:`Exchange.plan`): a wait, a read timeout
  after the client's own read timeout, a reset connection, a canned error answer (429 with
  ``Retry-After``, 5xx) or a body that is not JSON, all handed over instead of the real answer;
- ``refusal``, ``token_limit`` and ``hallucination`` change the answer that comes back
  (:meth:`Exchange.answer`, :meth:`Exchange.rewrite` for streams), or are recorded as not
  applicable when there is nothing they can change.

What reaches the SDK as a failure is detected then; a later good answer on the same client
recovers it.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

import httpx2

from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.integrations.openai.sse import (
    assemble,
    first_choice,
    loads,
    serialize_stream,
    sse_payloads,
    succeeded,
)
from pytest_agentchaos.model.corruption import Corruption, hallucinate, plausible_wrong
from pytest_agentchaos.model.faults import (
    ApiErrorFault,
    DelayFault,
    FaultSpec,
    HallucinationFault,
    RefusalFault,
    TokenLimitFault,
)
from pytest_agentchaos.model.kinds import Site, kinds_acting_on
from pytest_agentchaos.model.records import Firing
from pytest_agentchaos.model.schedule import rng_for

__all__ = [
    "DEFAULT_RETRY_AFTER_S",
    "LLM_FAULT_KINDS",
    "Exchange",
    "Plan",
    "describe_request",
]

#: The fault kinds the transport acts on.
LLM_FAULT_KINDS = kinds_acting_on(Site.LLM_EXCHANGE)
#: ``Retry-After`` of an injected 429 when the fault sets none.
DEFAULT_RETRY_AFTER_S = 0.05

_DROPPED_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})
_ERROR_BODIES: dict[int, tuple[str, str, str | None]] = {
    429: ("Rate limit reached for requests. Try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w)")
_MALFORMED = b'{"id": "chatcmpl-agentchaos", "object": "chat.completion", "choices": [{"mess'
_MALFORMED_SSE = b'data: {"id": "chatcmpl-agentchaos", "choices": [{"delta": {"cont\n\n'


# --------------------------------------------------------------------- one request
@dataclass
class Plan:
    """What happens before (or instead of) sending: a wait, then an error or canned answer."""

    wait_s: float = 0.0
    error: Exception | None = None
    response: httpx2.Response | None = None
    surfaced: list[Firing] = field(default_factory=list)

    @property
    def replaces_request(self) -> bool:
        return self.error is not None or self.response is not None


class Exchange:
    """One request of a chaos-enabled client during a run: its firings and its events."""

    def __init__(self, run: ChaosRun, client: str, request: httpx2.Request, body: bytes) -> None:
        self.run, self.client, self.request = run, client, request
        payload = loads(body) if body else None
        sent = payload if isinstance(payload, dict) else {}
        self.stream = bool(sent.get("stream"))
        read = (request.extensions.get("timeout") or {}).get("read")
        self.timeout_s: float | None = float(read) if read is not None else None
        self.number = run.count_call(client)
        run.record(client, "llm_request", None, describe_request(request, sent, self.number))
        self.delays: list[Firing] = []
        self.error: Firing | None = None
        self.content: list[tuple[int, FaultSpec]] = []
        self.refused = False
        for index, spec in run.armed(LLM_FAULT_KINDS):
            if not spec.matches(client) or not run.decide(index, client, self.number):
                continue
            if isinstance(spec, DelayFault):
                self.delays.append(run.fire(spec, client, self.number))
            elif isinstance(spec, ApiErrorFault):
                if self.error is None:
                    self.error = run.fire(spec, client, self.number)
            else:  # content faults fire once an answer they can change comes back
                self.content.append((index, spec))

    # ------------------------------------------------------------- before sending
    @property
    def delay_s(self) -> float:
        return sum(f.spec.seconds for f in self.delays if isinstance(f.spec, DelayFault))

    def plan(self) -> Plan:
        """Waits, errors or canned answers that precede or replace the real request."""
        plan = Plan()
        if self.delays and not self.stream:  # streams wait before their first chunk instead
            if self.timeout_s is not None and self.delay_s >= self.timeout_s:
                return self._timed_out(self.timeout_s, self.delays, "slow response")
            plan.wait_s = self.delay_s
        if self.error is None:
            return plan
        spec = self.error.spec
        assert isinstance(spec, ApiErrorFault)
        if spec.error == "timeout":
            wait = self.timeout_s if self.timeout_s is not None else self.run.settings.deadline_s
            return self._timed_out(wait, [self.error], "injected timeout")
        plan.surfaced = [self.error]
        if spec.error == "connection_reset":
            # What httpx2 raises when the peer resets the connection mid-request.
            plan.error = httpx2.ReadError(
                "[Errno 104] Connection reset by peer (agentchaos)", request=self.request
            )
        else:
            plan.response = self._error_response(spec)
        return plan

    def first_chunk_plan(self) -> Plan:
        """A slow first token: the wait before a stream's first chunk, or a read timeout."""
        if self.timeout_s is not None and self.delay_s >= self.timeout_s:
            return self._timed_out(self.timeout_s, self.delays, "slow first token")
        return Plan(wait_s=self.delay_s)

    def _timed_out(self, wait_s: float, firings: list[Firing], why: str) -> Plan:
        error = httpx2.ReadTimeout(f"timed out after {wait_s:g} s ({why}, agentchaos)")
        return Plan(wait_s=wait_s, error=error, surfaced=list(firings))

    def _error_response(self, spec: ApiErrorFault) -> httpx2.Response:
        headers = {"content-type": "application/json", "x-agentchaos-fault": spec.error}
        if spec.error == "malformed_json":
            if self.stream:
                headers["content-type"] = "text/event-stream"
            body = _MALFORMED_SSE if self.stream else _MALFORMED
            return httpx2.Response(200, headers=headers, content=body, request=self.request)
        status = spec.status or (429 if spec.error == "rate_limit" else 500)
        retry_after = spec.retry_after
        if retry_after is None and spec.error == "rate_limit":
            retry_after = DEFAULT_RETRY_AFTER_S
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        message, kind, code = _ERROR_BODIES.get(
            status, (f"HTTP {status} (injected by agentchaos).", "server_error", None)
        )
        error = {"message": message, "type": kind, "param": None, "code": code}
        return httpx2.Response(status, headers=headers, json={"error": error}, request=self.request)

    def surface(self, plan: Plan) -> None:
        """The planned error or canned answer reaches the SDK now: its firings are detected."""
        if plan.error is not None:
            self.failed(plan.error)
            what = type(plan.error).__name__
        else:
            assert plan.response is not None
            self.record_response(plan.response.status_code, None, None, injected=True)
            what = f"HTTP {plan.response.status_code}"
            if plan.response.status_code < 300:
                what = "malformed body"
        for firing in plan.surfaced:
            self.detected(firing, f"{what} handed to {self.client}")

    def detected(self, firing: Firing, reason: str) -> None:
        """``firing`` surfaced, and only it: an error handed to the SDK (which may well retry it
        unseen) is no check of an earlier answer, so hidden corruptions stay hidden."""
        self.run.detect(reason, fault_id=firing.fault_id, hidden=False)

    def failed(self, error: BaseException) -> None:
        """The request failed with ``error`` (injected, a real network error, a cassette miss)."""
        payload = {"request": self.number, "error": type(error).__name__}
        self.run.record(self.client, "llm_error", None, payload)

    # ------------------------------------------------------------ after receiving
    def passed(self, response: httpx2.Response) -> httpx2.Response:
        """An answer that is neither JSON nor an event stream: recorded, passed on."""
        self.record_response(response.status_code, None, None)
        self._not_applicable([spec for _, spec in self.content], "the answer is not JSON")
        if succeeded(response.status_code):
            self.run.complete(self.client)
        return response

    def answer(self, response: httpx2.Response) -> httpx2.Response:
        """A read JSON answer: apply content faults, record it, recover on a good one."""
        body = response.content
        payload = loads(body)
        choice = first_choice(payload)
        if self.content:
            if choice is None or not succeeded(response.status_code):
                specs = [spec for _, spec in self.content]
                self._not_applicable(specs, "the answer is not a chat completion")
            else:
                message, finish = self._apply(
                    choice.get("message") or {}, choice.get("finish_reason")
                )
                choice["message"], choice["finish_reason"] = message, finish
                body = json.dumps(payload).encode()
        usage = payload.get("usage") if isinstance(payload, dict) else None
        self.record_response(response.status_code, choice and choice.get("finish_reason"), usage)
        if succeeded(response.status_code) and payload is not None and not self.refused:
            self.run.complete(self.client)
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DROPPED_HEADERS]
        return httpx2.Response(
            response.status_code,
            headers=headers,
            content=body,
            extensions=response.extensions,
            request=self.request,
        )

    def record_response(
        self, status: int, finish: Any, usage: Any, *, injected: bool = False, stream: bool = False
    ) -> None:
        payload: dict[str, Any] = {"request": self.number, "status": status}
        if finish is not None:
            payload["finish_reason"] = finish
        if isinstance(usage, dict):
            payload["usage"] = {k: v for k, v in usage.items() if isinstance(v, int)}
        if stream:
            payload["stream"] = True
        if injected:
            payload["injected"] = True
        self.run.record(self.client, "llm_response", None, payload)

    def _not_applicable(self, specs: list[FaultSpec], reason: str) -> None:
        for spec in specs:
            payload = {"kind": spec.kind, "request": self.number, "reason": reason}
            self.run.record(self.client, "fault_not_applicable", None, payload)

    def _apply(self, message: dict[str, Any], finish: Any) -> tuple[dict[str, Any], Any]:
        """Apply the content faults to the assistant message, in the order they were armed."""
        for index, spec in self.content:
            if isinstance(spec, RefusalFault):
                message = {**message, "content": None, "refusal": spec.message}
                message.pop("tool_calls", None)
                finish = "stop"
                firing = self.run.fire(spec, self.client, self.number)
                self.refused = True
                self.detected(firing, f"refusal handed to {self.client}")
                continue
            rng = rng_for(self.run.seed, "llm", index, self.client, self.number)
            changed = _corrupt(message, spec, rng)
            if changed is None:
                self._not_applicable([spec], "no text or field to corrupt in the message")
                continue
            message, where, corruption = changed
            firing = self.run.fire(spec, self.client, self.number)
            firing.corruption = corruption
            firing.detail["field"] = where
            if isinstance(spec, TokenLimitFault):
                finish = "length"
            self.run.corrupted(firing)
        return message, finish

    # --------------------------------------------------------------------- streams
    def streamed(self, response: httpx2.Response, stream_type: type[Any]) -> httpx2.Response:
        """An event stream, passed on decoded, to be watched (and rewritten when content faults
        fired)."""
        rewrite = bool(self.content) and succeeded(response.status_code)
        stream = stream_type(response, self, rewrite)
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DROPPED_HEADERS]
        return httpx2.Response(
            response.status_code,
            headers=headers,
            stream=stream,
            extensions=response.extensions,
            request=self.request,
        )

    def rewrite(self, raw: bytes) -> list[bytes]:
        """Apply the content faults to a whole buffered event stream; one part per event."""
        events = sse_payloads(raw)
        chunks = [loads(data) for data in events if data != "[DONE]"]
        assembled = assemble(chunks)
        if assembled is None:
            specs = [spec for _, spec in self.content]
            self._not_applicable(specs, "the stream is not a one-choice chat completion stream")
            return [raw]
        message, finish = self._apply(*assembled)
        return serialize_stream(chunks, message, finish, "[DONE]" in events)


# ------------------------------------------------------------- requests and answers
def describe_request(request: httpx2.Request, sent: dict[str, Any], number: int) -> dict[str, Any]:
    """What the store keeps of a request: never headers, never the query string."""
    described: dict[str, Any] = {
        "request": number,
        "method": request.method,
        "path": request.url.path,
        "model": sent.get("model"),
        "stream": bool(sent.get("stream")),
    }
    for key in ("messages", "input"):
        if isinstance(sent.get(key), list):
            described[key] = len(sent[key])
    limit = sent.get("max_completion_tokens", sent.get("max_tokens"))
    if isinstance(limit, int):
        described["max_tokens"] = limit
    return described


def _corrupt(
    message: dict[str, Any], spec: FaultSpec, rng: random.Random
) -> tuple[dict[str, Any], str, Corruption] | None:
    """Truncate or hallucinate the content (or first tool call) of an assistant message."""
    content = message.get("content")
    calls = message.get("tool_calls")
    if isinstance(content, str) and content:
        changed = _corrupt_text(content, spec, rng)
        if changed is None:
            return None
        text, where, corruption = changed
        return {**message, "content": text}, f"content{where}", corruption
    if isinstance(calls, list) and calls and isinstance(calls[0], dict):
        function = calls[0].get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str) or not arguments:
            return None
        changed = _corrupt_text(arguments, spec, rng, json_only=True)
        if changed is None:
            return None
        text, where, corruption = changed
        first = {**calls[0], "function": {**function, "arguments": text}}
        return {**message, "tool_calls": [first, *calls[1:]]}, f"tool_calls.0{where}", corruption
    return None


def _corrupt_text(
    text: str, spec: FaultSpec, rng: random.Random, json_only: bool = False
) -> tuple[str, str, Corruption] | None:
    if isinstance(spec, TokenLimitFault):
        cut = text[: int(len(text) * spec.keep)]
        return cut, "", Corruption("", text, cut)
    assert isinstance(spec, HallucinationFault)
    data = loads(text)
    if isinstance(data, dict | list):
        changed = hallucinate(data, rng, spec.field, spec.value)
        if changed is None:
            return None
        wrong, corruption = changed
        where = f".{corruption.path}" if corruption.path else ""
        return json.dumps(wrong, ensure_ascii=False), where, corruption
    if json_only or spec.field is not None:
        return None  # a named field needs JSON content (structured output)
    wrong_text = _hallucinate_prose(text, rng, spec.value)
    if wrong_text is None or wrong_text == text:
        return None
    return wrong_text, "", Corruption("", text, wrong_text)


def _hallucinate_prose(text: str, rng: random.Random, value: Any) -> str | None:
    """A plausible wrong version of free text: one number changed, else the words shifted."""
    if value is not None:
        return str(value)
    numbers = list(_NUMBER.finditer(text))
    if numbers:
        match = rng.choice(numbers)
        found = match.group()
        number: int | float = float(found) if "." in found else int(found)
        wrong = plausible_wrong(number, rng, [])
        return f"{text[: match.start()]}{wrong}{text[match.end() :]}"
    changed = hallucinate(text, rng, None, None)
    return str(changed[0]) if changed is not None else None

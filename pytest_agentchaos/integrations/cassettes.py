"""LLM cassettes: vcrpy record and replay of LLM traffic, safe to commit and run offline.

A suite recorded once against a real model replays offline and deterministically, and chaos
faults still apply on top of the replayed answers: vcrpy patches the ``httpx2`` transport
classes, and :class:`~pytest_agentchaos.integrations.openai.ChaosTransport` calls its inner
transport through its class, so a fault fires before the cassette is consulted (an injected 429
never uses up a recorded answer) and content faults change the replayed answer.

Matching ignores host and port (a local server's port changes every run): method, path, query
and body. Secrets never reach the file: authorization and API-key headers, organization and
project ids, cookies, the SDK's ``x-stainless-*`` platform headers and key query parameters are
dropped from recorded requests, and ``set-cookie`` and organization headers from answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_agentchaos.errors import CassetteMismatchError, ChaosConfigError, MissingExtraError

__all__ = [
    "MATCH_ON",
    "RECORD_MODES",
    "CassetteMismatchError",
    "check_record_mode",
    "use_cassette",
    "vcr_config",
]

#: Record modes, as in pytest-recording: ``none`` replays only (the default, for CI); ``once``
#: records a cassette that does not exist yet; ``new_episodes`` adds requests it lacks; ``all``
#: records everything again.
RECORD_MODES = ("none", "once", "new_episodes", "all")
MATCH_ON = ("method", "path", "query", "body")
SECRET_HEADERS = (
    "authorization",
    "api-key",
    "x-api-key",
    "openai-organization",
    "openai-project",
    "cookie",
)
SECRET_QUERY_PARAMETERS = ("api-key", "api_key", "key")
SECRET_RESPONSE_HEADERS = frozenset({"set-cookie", "openai-organization", "openai-project"})
_BODY_EXCERPT = 160


def check_record_mode(value: object, source: str) -> str:
    """``value`` as a record mode; :class:`ChaosConfigError` names the bad value and the good."""
    if value not in RECORD_MODES:
        raise ChaosConfigError(
            f"{source}: bad record mode {value!r}; allowed: {', '.join(RECORD_MODES)}"
        )
    return str(value)


def vcr_config(record_mode: str = "none") -> dict[str, Any]:
    """The vcrpy ``use_cassette`` settings for LLM traffic."""
    return {
        "record_mode": check_record_mode(record_mode, "record_mode"),
        "match_on": MATCH_ON,
        "filter_headers": SECRET_HEADERS,
        "filter_query_parameters": SECRET_QUERY_PARAMETERS,
        "before_record_request": _scrub_request,
        "before_record_response": _scrub_response,
        "decode_compressed_response": True,
    }


@contextlib.contextmanager
def use_cassette(path: str | Path, record_mode: str = "none", **vcr_options: Any) -> Iterator[Any]:
    """Record or replay the HTTP traffic inside the block to or from the cassette ``path``.

    Yields the vcrpy ``Cassette``. ``vcr_options`` override :func:`vcr_config`. A request the
    cassette cannot answer raises :class:`CassetteMismatchError`.
    """
    try:
        import vcr
    except ImportError:
        raise MissingExtraError("LLM cassettes", "vcrpy", "llm") from None

    config = {**vcr_config(record_mode), **vcr_options}
    with (
        vcr.VCR().use_cassette(str(path), **config) as cassette,
        _explained_misses(Path(path), config["record_mode"]),
    ):
        yield cassette


def _scrub_request(request: Any) -> Any:
    """Drop the SDK's platform headers (OS, Python and package versions) from a request."""
    for name in list(request.headers):
        if name.lower().startswith("x-stainless-"):
            del request.headers[name]
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers") or {}
    response["headers"] = {
        name: value
        for name, value in headers.items()
        if name.lower() not in SECRET_RESPONSE_HEADERS
    }
    return response


@contextlib.contextmanager
def _explained_misses(path: Path, record_mode: str) -> Iterator[None]:
    """While the cassette is in use, turn vcrpy's miss into a :class:`CassetteMismatchError`
    naming the request, for every ``httpx2`` client (chaos-enabled or not)."""
    import httpx2
    import wrapt
    from vcr.errors import CannotOverwriteExistingCassetteException as Miss

    from pytest_agentchaos.engine.steps import Invoke, Steps, run_async, run_sync

    def explain(miss: Exception, request: httpx2.Request) -> CassetteMismatchError:
        reason = str(getattr(miss, "reason", "no_match"))
        return CassetteMismatchError(_mismatch_message(path, record_mode, reason, request, miss))

    def explained(wrapped: Any, args: Any, kwargs: Any) -> Steps[Any]:
        try:
            return (yield Invoke(wrapped, args, kwargs))
        except Miss as miss:
            raise explain(miss, args[0]) from None

    def sync_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return run_sync(explained(wrapped, args, kwargs))

    async def async_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return await run_async(explained(wrapped, args, kwargs))

    patched = [
        (httpx2.HTTPTransport, "handle_request", sync_wrapper),
        (httpx2.AsyncHTTPTransport, "handle_async_request", async_wrapper),
    ]
    originals = [(owner, name, owner.__dict__[name]) for owner, name, _ in patched]
    try:
        for owner, name, wrapper in patched:
            wrapt.wrap_function_wrapper(owner, name, wrapper)
        yield
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


_PROBLEMS = {
    "cassette_not_found": (
        "does not exist, so it has no answer for",
        "record it: run once with --chaos-record-mode=once",
    ),
    "already_played": (
        "has already played its every answer for",
        "record the extra request: run once with --chaos-record-mode=new_episodes",
    ),
}
_NO_ANSWER = (
    "has no answer for",
    "record the new request: run once with --chaos-record-mode=new_episodes "
    "(or =all to record the whole cassette again)",
)


def _mismatch_message(
    path: Path, record_mode: str, reason: str, request: Any, detail: object
) -> str:
    problem, fix = _PROBLEMS.get(reason, _NO_ANSWER)
    body = request.content.decode("utf-8", "replace") if request.content else "(empty)"
    if len(body) > _BODY_EXCERPT:
        body = f"{body[:_BODY_EXCERPT]}... ({len(body)} characters)"
    return (
        f"cassette {path} {problem} {request.method} {request.url.path} "
        f"(record mode {record_mode!r})\n"
        f"  body: {body}\n"
        f"  to fix: {fix}\n\n"
        f"vcrpy says:\n{detail}"
    )

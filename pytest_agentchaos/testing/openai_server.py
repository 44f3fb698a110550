"""A deterministic, offline, OpenAI-compatible chat completions server for tests."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChatReply", "LocalOpenAIServer", "default_responder", "main"]

Responder = Callable[[dict[str, Any]], "ChatReply"]


@dataclass(frozen=True)
class ChatReply:
    """What the model "says"; tool_calls are ``{"name", "arguments"}`` dicts."""

    content: str | None = None
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    finish_reason: str = ""
    refusal: str | None = None

    def __post_init__(self) -> None:
        if not self.finish_reason:
            object.__setattr__(self, "finish_reason", "tool_calls" if self.tool_calls else "stop")


def _text(content: Any) -> str:
    """Flatten a message content: a string or a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def default_responder(request: dict[str, Any]) -> ChatReply:
    """Derive a reply from the request alone, so the same request always gets the same reply."""
    messages: list[dict[str, Any]] = request.get("messages") or []
    user = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
    text = user[-1] if user else ""
    last = messages[-1] if messages else {}
    fmt = request.get("response_format") or {}
    if fmt.get("type") in ("json_schema", "json_object"):
        return ChatReply(content=json.dumps({"answer": text, "length": len(text)}))
    tools = request.get("tools") or []
    if tools and last.get("role") == "user":
        fn = tools[0].get("function") or {}
        params = fn.get("parameters") or {}
        props = params.get("properties") or {}
        fill: dict[Any, Any] = {"string": text, "number": 1, "integer": 1, "boolean": True}
        args = {k: fill.get((props.get(k) or {}).get("type")) for k in params.get("required", [])}
        return ChatReply(tool_calls=[{"name": fn.get("name", ""), "arguments": json.dumps(args)}])
    if last.get("role") == "tool":
        return ChatReply(content="done: " + _text(last.get("content")))
    return ChatReply(content="echo: " + text)


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LocalOpenAIServer, address: tuple[str, int]) -> None:
        self.owner = owner
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-connection (pool closes, aborted streams) are routine.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so SDK clients keep connections alive and streams use chunked encoding.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in separate writes: with Nagle's algorithm on, the body waits for
    # the client's delayed ACK, about 40 ms a response, which would swamp every MTTR measured.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.request)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.request)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _fail(self, status: int, message: str, code: str) -> None:
        kind = "server_error" if status >= 500 else "invalid_request_error"
        self._send_json(status, {"error": {"message": message, "type": kind, "code": code}})

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            model = {"id": "local-model", "object": "model", "created": 0, "owned_by": "local"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._fail(404, f"Unknown path: {self.path}", "not_found")

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._fail(404, f"Unknown path: {self.path}", "not_found")
            return
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as exc:
            self._fail(400, f"Invalid JSON body: {exc}", "invalid_json")
            return
        owner = self.server.owner
        n = owner._record(body, {k.lower(): v for k, v in self.headers.items()})
        try:
            reply = owner._responder(body)
        except Exception as exc:  # a broken responder should fail the request, not the server
            self._fail(500, f"Responder failed: {exc!r}", "responder_error")
            return
        if body.get("stream"):
            self._stream(body, reply, n)
        else:
            self._send_json(200, _completion(body, reply, n))

    def _stream(self, body: dict[str, Any], reply: ChatReply, n: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in _chunks(body, reply, n):
            event = b"data: " + chunk.encode() + b"\n\n"
            self.wfile.write(b"%X\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def _message(reply: ChatReply, n: int) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
    if reply.tool_calls:
        msg["tool_calls"] = [
            {
                "id": tc.get("id", f"call_{n}_{i}"),
                "type": "function",
                "function": {"name": tc["name"], "arguments": tc.get("arguments", "{}")},
            }
            for i, tc in enumerate(reply.tool_calls)
        ]
    return msg


def _usage(body: dict[str, Any], reply: ChatReply) -> dict[str, int]:
    prompt = sum(_words(_text(m.get("content"))) for m in body.get("messages") or [])
    out = _words(reply.content) + _words(reply.refusal)
    out += sum(_words(tc.get("arguments")) for tc in reply.tool_calls)
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}


def _completion(body: dict[str, Any], reply: ChatReply, n: int) -> dict[str, Any]:
    choice = {"index": 0, "message": _message(reply, n), "finish_reason": reply.finish_reason}
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "local-model"),
        "choices": [choice],
        "usage": _usage(body, reply),
    }


def _chunks(body: dict[str, Any], reply: ChatReply, n: int) -> Iterator[str]:
    base = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk", "created": 0}
    base["model"] = body.get("model", "local-model")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return json.dumps({**base, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    # Word-sized pieces make clients exercise their reassembly logic.
    for piece in re.findall(r"\s*\S+\s*|\s+", reply.content or ""):
        yield chunk({"content": piece})
    if reply.refusal:
        yield chunk({"refusal": reply.refusal})
    for i, tc in enumerate(_message(reply, n).get("tool_calls", [])):
        yield chunk({"tool_calls": [{"index": i, **tc}]})
    yield chunk({}, reply.finish_reason)
    if (body.get("stream_options") or {}).get("include_usage"):
        yield json.dumps({**base, "choices": [], "usage": _usage(body, reply)})
    yield "[DONE]"


class LocalOpenAIServer:
    """Serve ``/v1/chat/completions`` and ``/v1/models`` on a background thread."""

    def __init__(
        self, responder: Responder | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._responder: Responder = responder or default_responder
        self._address = (host, port)
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> int:
        with self._lock:
            self._requests.append(body)
            self._headers.append(headers)
            return len(self._requests)

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``; only valid while started."""
        if self._httpd is None:
            raise RuntimeError("LocalOpenAIServer is not running")
        return f"http://{self._address[0]}:{self._httpd.server_address[1]}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Chat completion request bodies, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers (lower-cased names) matching ``requests`` index for index."""
        with self._lock:
            return list(self._headers)

    def start(self) -> LocalOpenAIServer:
        """Bind the port and begin serving."""
        if self._httpd is not None:
            raise RuntimeError("LocalOpenAIServer is already running")
        self._httpd = _HTTPServer(self, self._address)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="LocalOpenAIServer", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, drop kept-alive connections and release the port."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        # Idle keep-alive handlers would otherwise block on read until the client hangs up.
        with httpd.connections_lock:
            for conn in httpd.connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> LocalOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve until Ctrl-C: ``python -m pytest_agentchaos.testing.openai_server --port N``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    with LocalOpenAIServer(host=args.host, port=args.port) as server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()

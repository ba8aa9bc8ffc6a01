"""A local stand-in for the Anthropic Messages API (`POST /v1/messages`) for tests.

It is a real HTTP server on 127.0.0.1 (random port) that the official SDK talks to through
`base_url`. It checks requests the way the API does (API key, required fields, alternating roles,
every `tool_use` answered by a `tool_result`, a valid `tool_choice`), and answers a tool call by
*reading the tool's input_schema*, as a model reads instructions: counts from `minItems`, lengths
from `minLength`/`maxLength`, the allowed `{{placeholders}}` and "at least N placeholders" from a
string's description. So the answers follow what the request asked for; nothing here knows what
the client expects. Answers are deterministic for a given request (seeded by its content).

Faults are queued with `add(Fault...)` and consumed by matching requests, in order: error
statuses with the API's error body and retry-after headers, slow answers, truncation
(`stop_reason: max_tokens`), answers bent by a mutator (too few items, unknown placeholders,
malformed input), an answer without the tool call, and requests that hang until `release()`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CATEGORY_RE = re.compile(r"^Category: ([a-z0-9-]+)", re.MULTILINE)
_PLACEHOLDER_RE = re.compile(r"\{\{(\w+)\}\}")
_AT_LEAST_RE = re.compile(r"at least (\d+) placeholders?", re.IGNORECASE)

WORDS = (
    "cache", "sync", "queue", "render", "token", "worker", "shard", "replica", "index", "schema",
    "stream", "buffer", "socket", "cursor", "batch", "ledger", "beacon", "kernel", "driver", "bridge",
    "gateway", "router", "bundle", "plugin", "module", "widget", "layout", "canvas", "sprite", "shader",
    "codec", "packet", "session", "profile", "policy", "vault", "signal", "sensor", "firmware", "model",
    "tensor", "feature", "metric", "trace", "span", "alert", "pipeline", "job", "task", "lease",
    "fails", "stalls", "drops", "leaks", "retries", "hangs", "resets", "spikes", "drifts", "blocks",
    "slow", "stale", "broken", "flaky", "missing", "partial", "noisy", "silent", "late", "empty",
    "after", "during", "before", "when", "while", "under", "with", "without", "across", "between",
    "upload", "export", "import", "login", "restart", "deploy", "rollback", "refresh", "resize", "scroll",
    "north", "amber", "cobalt", "delta", "ember", "falcon", "harbor", "juniper", "lumen", "meadow",
    "nimbus", "orchid", "pioneer", "quartz", "raven", "summit", "tidal", "umbra", "vertex", "willow",
)


@dataclass
class Fault:
    """Something to do instead of (or to) a normal answer, for `times` matching requests."""

    action: str                      # error | slow | truncate | mutate | no_tool | hang | web_page
    times: int = 1
    category: str | None = None      # match the "Category: x" line of the first user message
    tool: str | None = None          # match the tool the request forces (or offers first)
    status: int = 0
    error_type: str = ""
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    mutate: Callable[[dict], dict] | None = None

    @classmethod
    def error(cls, status: int, error_type: str, message: str = "", *, retry_after_ms: int | None = None,
              times: int = 1, category: str | None = None, tool: str | None = None) -> Fault:
        headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
        return cls("error", times, category, tool, status, error_type, message or error_type, headers)

    @classmethod
    def slow(cls, seconds: float, **match: Any) -> Fault:
        return cls("slow", seconds=seconds, **match)

    @classmethod
    def truncate(cls, **match: Any) -> Fault:
        return cls("truncate", **match)

    @classmethod
    def bend(cls, mutate: Callable[[dict], dict], **match: Any) -> Fault:
        return cls("mutate", mutate=mutate, **match)

    @classmethod
    def no_tool(cls, **match: Any) -> Fault:
        return cls("no_tool", **match)

    @classmethod
    def hang(cls, **match: Any) -> Fault:
        return cls("hang", **match)

    @classmethod
    def web_page(cls, status: int = 200, **match: Any) -> Fault:
        """An HTML page instead of the API's JSON (a proxy, or a base URL naming some web server)."""
        return cls("web_page", status=status, **match)

    def matches(self, category: str | None, tool: str | None) -> bool:
        return (self.category is None or self.category == category) and (self.tool is None or self.tool == tool)


# ---- mutators: what a model gets wrong -----------------------------------------------------------

def too_few(answer: dict) -> dict:
    """Half of every list (rounded down)."""
    return {k: v[: len(v) // 2] if isinstance(v, list) else v for k, v in answer.items()}


def unknown_slot(answer: dict) -> dict:
    """The first half of every list of strings gets a placeholder nobody defined."""
    out = {}
    for k, v in answer.items():
        if isinstance(v, list) and v and all(isinstance(s, str) for s in v):
            half = max(1, len(v) // 2)
            v = [s + " {{bogus_slot}}" if i < half else s for i, s in enumerate(v)]
        out[k] = v
    return out


def malformed(answer: dict) -> dict:
    """Lists turned into strings of broken JSON, as if the model wrote JSON text into the field."""
    return {k: json.dumps(v)[:-7] if isinstance(v, list) else v for k, v in answer.items()}


# ---- synthesizing an answer from a JSON schema ---------------------------------------------------

def _key(value: object) -> str:
    if isinstance(value, str):
        return " ".join(value.split()).lower()
    if isinstance(value, dict) and value:
        return _key(next(iter(value.values())))
    return json.dumps(value, sort_keys=True)


def _text(schema: dict, rng: random.Random) -> str:
    desc = schema.get("description", "")
    lo = int(schema.get("minLength", 1))
    hi = int(schema.get("maxLength", max(lo, 40)))
    allowed = list(dict.fromkeys(_PLACEHOLDER_RE.findall(desc)))
    m = _AT_LEAST_RE.search(desc)
    need = int(m.group(1)) if m else (1 if allowed else 0)
    placeholders = [f"{{{{{s}}}}}" for s in rng.sample(allowed, min(need, len(allowed)))]
    target = lo + int((hi - lo) * rng.uniform(0.2, 0.4))
    words: list[str] = []

    def length() -> int:
        return len(" ".join(words + placeholders))

    while length() < target:
        words.append(rng.choice(WORDS))
    while words and length() > hi:
        words.pop()
    for ph in placeholders:
        words.insert(rng.randint(0, len(words)), ph)
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def synthesize(schema: dict, rng: random.Random) -> Any:
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: synthesize(props[k], rng) for k in schema.get("required", list(props))}
    if kind == "array":
        n = int(schema.get("minItems", 3))
        out: list = []
        seen: set[str] = set()
        for _ in range(n * 50):
            if len(out) == n:
                break
            v = synthesize(schema.get("items", {"type": "string"}), rng)
            if _key(v) not in seen:
                seen.add(_key(v))
                out.append(v)
        return out
    if kind == "string":
        return _text(schema, rng)
    if kind == "integer":
        return rng.randint(int(schema.get("minimum", 0)), int(schema.get("maximum", 100)))
    if kind == "boolean":
        return rng.random() < 0.5
    return None


# ---- request checks (what the real API would reject with a 400) ----------------------------------

def _request_problem(body: dict) -> str | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: must be a positive integer"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, m in enumerate(messages):
        want = "user" if i % 2 == 0 else "assistant"
        if not isinstance(m, dict) or m.get("role") != want:
            return f"messages.{i}: roles must alternate, starting with user"
        content = m.get("content")
        if isinstance(content, list):
            if not content:
                return f"messages.{i}: content must not be empty"
            if any(not isinstance(b, dict) or "type" not in b for b in content):
                return f"messages.{i}: every content block needs a type"
        elif not isinstance(content, str) or not content:
            return f"messages.{i}: content must be a non-empty string or list"
        if m["role"] == "assistant" and isinstance(content, list):
            ids = {b.get("id") for b in content if b.get("type") == "tool_use"}
            nxt = messages[i + 1]["content"] if i + 1 < len(messages) else None
            answered = {b.get("tool_use_id") for b in nxt if b.get("type") == "tool_result"} \
                if isinstance(nxt, list) else set()
            if ids - answered:
                return (f"messages.{i + 1}: tool_use ids were found without tool_result blocks "
                        "immediately after")
    if messages[-1]["role"] != "user":
        return "the last message must be from the user"
    tools = body.get("tools", [])
    if not isinstance(tools, list):
        return "tools: must be a list"
    names = []
    for i, t in enumerate(tools):
        if not isinstance(t, dict) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", str(t.get("name", ""))):
            return f"tools.{i}.name: invalid"
        if not isinstance(t.get("input_schema"), dict) or t["input_schema"].get("type") != "object":
            return f"tools.{i}.input_schema: must be a JSON schema of type object"
        names.append(t["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
            return "tool_choice: invalid"
        if choice["type"] == "tool" and choice.get("name") not in names:
            return f"tool_choice.name: no tool named {choice.get('name')!r}"
    return None


# ---- the server ----------------------------------------------------------------------------------

@dataclass
class Seen:
    """One request as the server saw it."""

    body: dict
    headers: dict[str, str]
    category: str | None
    tool: str | None
    status: int = 0
    fault: str = ""
    usage: dict[str, int] = field(default_factory=dict)


def _first_user_text(body: dict) -> str:
    messages = body.get("messages") or [{}]
    content = messages[0].get("content", "") if isinstance(messages[0], dict) else ""
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return content if isinstance(content, str) else ""


def _chosen_tool(body: dict) -> dict | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        return next((t for t in tools if t.get("name") == choice.get("name")), None)
    return tools[0] if tools else None


class FakeMessagesAPI:
    def __init__(self, api_key: str = "sk-ant-test-fake-key", *, delay: float = 0.0,
                 reject_forced_tool: bool = False) -> None:
        self.api_key = api_key
        self.delay = delay
        self.reject_forced_tool = reject_forced_tool
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.max_categories_in_flight = 0   # distinct categories with a request being answered
        self.max_in_flight_per_category = 0
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> FakeMessagesAPI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.block_on_close = False
        server.api = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._release.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeMessagesAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        assert self._server
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # control and inspection
    def add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def release(self) -> None:
        """Let hanging requests go (they answer normally, to whoever still listens)."""
        self._release.set()

    def seen(self, *, category: str | None = None, tool: str | None = None, status: int | None = None) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests
                    if (category is None or r.category == category) and (tool is None or r.tool == tool)
                    and (status is None or r.status == status)]

    def usage_total(self) -> tuple[int, int]:
        ok = self.seen(status=200)
        return sum(r.usage.get("input_tokens", 0) for r in ok), sum(r.usage.get("output_tokens", 0) for r in ok)

    # handling
    def _take_fault(self, category: str | None, tool: str | None) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.times > 0 and f.matches(category, tool):
                    f.times -= 1
                    return f
        return None

    def handle(self, body: dict, headers: dict[str, str]) -> tuple[int, dict[str, str], dict]:
        tool = _chosen_tool(body)
        m = _CATEGORY_RE.search(_first_user_text(body))
        seen = Seen(body, headers, m.group(1) if m else None, tool.get("name") if tool else None)
        with self._lock:
            self.requests.append(seen)
        status, extra, payload = self._answer(seen, body, headers, tool)
        seen.status = status
        return status, extra, payload

    def authorized(self, headers: dict[str, str]) -> bool:
        """The key comes as `x-api-key` or, in newer SDKs, as `Authorization: Bearer <key>`."""
        return (headers.get("x-api-key") == self.api_key
                or headers.get("authorization") == f"Bearer {self.api_key}")

    def _answer(self, seen: Seen, body: dict, headers: dict[str, str],
                tool: dict | None) -> tuple[int, dict[str, str], dict]:
        if not self.authorized(headers):
            return _error(401, "authentication_error", "invalid x-api-key")
        problem = _request_problem(body)
        if problem:
            return _error(400, "invalid_request_error", problem)
        if self.reject_forced_tool and (body.get("tool_choice") or {}).get("type") == "tool":
            return _error(400, "invalid_request_error",
                          "tool_choice: forcing a specific tool is not supported with this model")
        fault = self._take_fault(seen.category, seen.tool)
        seen.fault = fault.action if fault else ""
        cat = seen.category or "?"
        with self._lock:
            self._in_flight[cat] = self._in_flight.get(cat, 0) + 1
            self.max_categories_in_flight = max(self.max_categories_in_flight, len(self._in_flight))
            self.max_in_flight_per_category = max(self.max_in_flight_per_category, self._in_flight[cat])
        try:
            if self.delay:
                self._stop.wait(self.delay)
            if fault and fault.action == "error":
                return _error(fault.status, fault.error_type, fault.message, fault.headers)
            if fault and fault.action == "web_page":
                return fault.status, {"content-type": "text/html"}, {WEB_PAGE: "<html><body>It works!</body></html>"}
            if fault and fault.action == "slow":
                self._stop.wait(fault.seconds)
            if fault and fault.action == "hang":
                self._release.wait(60)
            return 200, {}, self._message(seen, body, tool, fault)
        finally:
            with self._lock:
                self._in_flight[cat] -= 1
                if not self._in_flight[cat]:
                    del self._in_flight[cat]

    def _message(self, seen: Seen, body: dict, tool: dict | None, fault: Fault | None) -> dict:
        seed = hashlib.sha256(json.dumps([body["messages"], tool], sort_keys=True).encode()).digest()
        rng = random.Random(int.from_bytes(seed[:8], "big"))
        stop_reason = "tool_use"
        if tool is None or (fault and fault.action == "no_tool"):
            content: list[dict] = [{"type": "text", "text": "Here is a list, written as prose instead."}]
            stop_reason = "end_turn"
        else:
            answer = synthesize(tool["input_schema"], rng)
            if fault and fault.action == "mutate" and fault.mutate:
                answer = fault.mutate(answer)
            if fault and fault.action == "truncate":
                answer, stop_reason = too_few(answer), "max_tokens"
            content = [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:24]}", "name": tool["name"],
                        "input": answer}]
        seen.usage = {"input_tokens": len(json.dumps(body)) // 4,
                      "output_tokens": max(1, len(json.dumps(content)) // 4)}
        return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant",
                "model": body["model"], "content": content, "stop_reason": stop_reason,
                "stop_sequence": None, "usage": seen.usage}


WEB_PAGE = "__web_page__"  # a payload sent as it is, not as JSON


def _error(status: int, error_type: str, message: str,
           headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], dict]:
    body = {"type": "error", "error": {"type": error_type, "message": message},
            "request_id": f"req_{uuid.uuid4().hex[:24]}"}
    return status, dict(headers or {}), body


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (an SDK giving up on a 501, a stopped run): not a failure of the fake,
        and socketserver's printed traceback would land in the captured stderr of the command under test."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        api: FakeMessagesAPI = self.server.api  # type: ignore[attr-defined]
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.split("?")[0] != "/v1/messages":
            self._send(*_error(404, "not_found_error", f"no route for {self.path}"))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(*_error(400, "invalid_request_error", "request body is not valid JSON"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._send(*api.handle(body if isinstance(body, dict) else {}, headers))

    def _send(self, status: int, headers: dict[str, str], payload: dict) -> None:
        data = payload[WEB_PAGE].encode() if WEB_PAGE in payload else json.dumps(payload).encode()
        try:
            self.send_response(status)
            if "content-type" not in headers:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", payload.get("request_id") or f"req_{uuid.uuid4().hex[:24]}")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to tell it

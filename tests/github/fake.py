"""A fake of GitHub's REST API on 127.0.0.1, for the endpoints reconcile uses.

It keeps GitHub's behaviour where reconcile depends on it: bearer tokens, `per_page`
capped at 100 with `Link` headers, the 65,536-character body limit (422), labels on
issues, and pull requests listed for a commit. Faults are queued per request; a fault
can also answer slowly (a byte at a time), hugely, or with a body of its own.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

TOKEN = "ghs_test_token_0123456789"
REPOSITORY = "acme/inventory"
BOT = "github-actions[bot]"
BODY_LIMIT = 65_536
START = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Fault:
    """Answer the next matching request with `status`; `after=True` does the work first.

    `body` replaces the JSON answer; `drip` sends it one byte every `drip` seconds;
    `size` sends a JSON list of that many bytes instead (with a Content-Length when
    `declare` says so). How many bytes went out is recorded in `sent` once done.
    """

    method: str
    path: str  # a regex on the path
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    after: bool = False
    body: bytes | None = None
    drip: float = 0.0
    size: int = 0
    declare: bool = True
    sent: list[int] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class State:
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    commit_pulls: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pull_files: dict[int, list[str]] = field(default_factory=dict)  # the paths each changes
    compared: dict[str, list[str]] = field(default_factory=dict)  # "base...head": paths
    faults: list[Fault] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1000
    next_number: int = 1
    ticks: int = 0
    login: str = BOT
    stuck: bool = False  # every Link says the next page is page 1

    def now(self) -> str:
        self.ticks += 1
        return stamp(START + timedelta(seconds=self.ticks))

    def add_comment(self, number: int, body: str, login: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        when = self.now()
        comment = {
            "id": self.next_id,
            "body": body,
            "user": {"login": login or self.login},
            "created_at": when,
            "updated_at": when,
            "html_url": f"https://github.test/{REPOSITORY}/pull/{number}#c{self.next_id}",
        }
        self.comments.setdefault(number, []).append(comment)
        return comment

    def requests(self, method: str, pattern: str) -> int:
        return sum(1 for m, p in self.log if m == method and re.fullmatch(pattern, p))


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *_: Any) -> None:
        """Quiet: the state's log is what tests read."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        state = self.server.state
        with self.server.lock:
            state.log.append((method, url.path))
            fault = _take_fault(state, method, url.path)
            if fault is None or fault.after:
                answer = self._answer(method, url.query, url.path, raw)
        # Faults answer outside the lock: a slow one holds up no other request.
        if fault is not None:
            return self._fault(fault)
        return self._send(*answer)

    def _answer(self, method: str, query: str, path: str, raw: bytes) -> Answer:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Bad credentials"}, {}
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        body = json.loads(raw) if raw else {}
        return _route(self.server.state, method, path, params, body, self._base())

    def _fault(self, fault: Fault) -> None:
        """Answer as `fault` says, counting the bytes that got out; bounded by the fault."""
        sent = 0
        try:
            if fault.size:
                sent = self._huge(fault)
            else:
                data = fault.body if fault.body is not None else b'{"message": "fault"}'
                self._head(fault.status, fault.headers, len(data))
                step = 1 if fault.drip else len(data)
                for start in range(0, len(data), step):
                    self.wfile.write(data[start : start + step])
                    self.wfile.flush()
                    sent += step
                    if fault.drip and self.server.stopping.wait(fault.drip):
                        break
        except OSError:  # the client hung up: what it refused to wait for, or to read
            pass
        finally:
            fault.sent.append(sent)
            fault.done.set()

    def _huge(self, fault: Fault) -> int:
        self._head(fault.status, fault.headers, fault.size if fault.declare else None)
        chunk = b" " * 65_536
        self.wfile.write(b"[")
        sent = 1
        while sent < fault.size - 1 and not self.server.stopping.is_set():
            piece = chunk[: fault.size - 1 - sent]
            self.wfile.write(piece)
            sent += len(piece)
        self.wfile.write(b"]")
        return sent + 1

    def _head(self, status: int, headers: dict[str, str], length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _take_fault(state: State, method: str, path: str) -> Fault | None:
    for index, fault in enumerate(state.faults):
        if fault.method == method and re.fullmatch(fault.path, path):
            return state.faults.pop(index)
    return None


Answer = tuple[int, Any, dict[str, str]]


def _route(  # noqa: PLR0917 - one request's parts
    state: State, method: str, path: str, query: dict[str, str], body: Any, base: str
) -> Answer:
    # GitHub Enterprise Server serves the same API below /api/v3.
    prefix = f"/repos/{REPOSITORY}/"
    inner = path.removeprefix("/api/v3")
    if not inner.startswith(prefix):
        return 404, {"message": "Not Found"}, {}
    tail = inner.removeprefix(prefix)
    for pattern, handler in _ROUTES:
        found = re.fullmatch(pattern, f"{method} {tail}")
        if found:
            return handler(state, found, query, body, f"{base}{path}")
    return 404, {"message": "Not Found"}, {}


def _page(state: State, items: list[Any], query: dict[str, str], url: str) -> Answer:
    per_page = min(int(query.get("per_page", 30)), 100)
    page = int(query.get("page", 1))
    last = max(1, -(-len(items) // per_page))
    links = []
    rest = {k: v for k, v in query.items() if k != "page"}
    if page < last:
        following = 1 if state.stuck else page + 1
        links.append(f'<{url}?{urlencode({**rest, "page": following})}>; rel="next"')
        links.append(f'<{url}?{urlencode({**rest, "page": last})}>; rel="last"')
    chunk = items[(page - 1) * per_page : page * per_page]
    return 200, chunk, ({"Link": ", ".join(links)} if links else {})


def _too_long(body: Any) -> Answer | None:
    if len(str(body.get("body") or "")) > BODY_LIMIT:
        return 422, {"message": "Validation Failed", "errors": [{"code": "custom"}]}, {}
    return None


def _list_comments(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    return _page(state, state.comments.get(int(m.group(1)), []), q, url)


def _create_comment(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    return _too_long(b) or (201, state.add_comment(int(m.group(1)), b["body"]), {})


def _update_comment(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    for comments in state.comments.values():
        for comment in comments:
            if comment["id"] == int(m.group(1)):
                refused = _too_long(b)
                if refused:
                    return refused
                comment.update(body=b["body"], updated_at=state.now())
                return 200, comment, {}
    return 404, {"message": "Not Found"}, {}


def _commit_pulls(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    return _page(state, state.commit_pulls.get(m.group(1), []), q, url)


def _pull_files(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    if int(m.group(1)) not in state.pull_files:
        return 404, {"message": "Not Found"}, {}
    files = [{"filename": name, "status": "modified"} for name in state.pull_files[int(m.group(1))]]
    return _page(state, files, q, url)


def _compare(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    if m.group(1) not in state.compared:
        return 404, {"message": "Not Found"}, {}
    files = [{"filename": name, "status": "modified"} for name in state.compared[m.group(1)]]
    return 200, {"status": "ahead", "files": files}, {}


def _list_issues(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    label, wanted = q.get("labels"), q.get("state", "open")
    found = [
        i
        for i in state.issues.values()
        if (wanted == "all" or i["state"] == wanted)
        and (label is None or label in [x["name"] for x in i["labels"]])
    ]
    return _page(state, found, q, url)


def _create_issue(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    refused = _too_long(b)
    if refused:
        return refused
    number = state.next_number
    state.next_number += 1
    issue = {
        "number": number,
        "title": b["title"],
        "body": b.get("body", ""),
        "labels": [{"name": name} for name in b.get("labels", [])],
        "state": "open",
        "state_reason": None,
        "user": {"login": state.login},
        "html_url": f"https://github.test/{REPOSITORY}/issues/{number}",
        "updated_at": state.now(),
    }
    state.issues[number] = issue
    return 201, issue, {}


def _update_issue(state: State, m: re.Match[str], q: dict[str, str], b: Any, url: str) -> Answer:
    issue = state.issues.get(int(m.group(1)))
    if issue is None:
        return 404, {"message": "Not Found"}, {}
    refused = _too_long(b)
    if refused:
        return refused
    issue.update({k: v for k, v in b.items() if k in ("title", "body", "state", "state_reason")})
    issue["updated_at"] = state.now()
    return 200, issue, {}


_ROUTES = [
    (r"GET issues/(\d+)/comments", _list_comments),
    (r"POST issues/(\d+)/comments", _create_comment),
    (r"PATCH issues/comments/(\d+)", _update_comment),
    (r"GET commits/([0-9a-f]{40})/pulls", _commit_pulls),
    (r"GET pulls/(\d+)/files", _pull_files),
    (r"GET compare/([0-9a-f]{40}\.\.\.[0-9a-f]{40})", _compare),
    (r"GET issues", _list_issues),
    (r"POST issues", _create_issue),
    (r"PATCH issues/(\d+)", _update_issue),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = State()
        self.lock = threading.Lock()
        self.stopping = threading.Event()  # ends dripping and huge answers at shutdown


@dataclass
class FakeGitHub:
    """The running fake: its URL and its state (read it under no lock once requests stop)."""

    url: str
    state: State


@contextmanager
def serving() -> Iterator[FakeGitHub]:
    server = _Server()
    # A short poll: shutdown() waits for the loop to notice, once per test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield FakeGitHub(f"http://{host}:{port}", server.state)
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

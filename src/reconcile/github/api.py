"""GitHub's REST API through httpx: repository and token from GitHub's environment,
`Link` pagination, and the W&B client's retry policy (client/transport.send).

Every request ends by a total deadline (connecting, the headers and the whole answer),
an answer is read up to a size limit, and only a 2xx answer is a success.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from reconcile import __version__
from reconcile.client.transport import RETRY_STATUSES, RetryPolicy, Unreachable, send
from reconcile.core.errors import ReconcileError, UsageError
from reconcile.github.bounded import Bounded

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
MAX_PAGES = 500  # 50,000 items: a bound on the loop, far above any real pull request
TIMEOUT = httpx.Timeout(30.0, connect=10.0)  # each step; DEADLINE bounds them all
DEADLINE = 60.0  # seconds for one request, from connecting to the answer's last byte
MAX_ANSWER = 32 * 1024 * 1024  # bytes; a page of 100 comments at GitHub's limit fits
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

_HINTS = {
    401: " (is GITHUB_TOKEN set to a valid token?)",
    403: " (does the workflow's `permissions:` grant pull-requests: write and issues: write?)",
    404: " (is GITHUB_REPOSITORY right, and can the token see it?)",
}


class GitHubError(ReconcileError):
    """Raised when GitHub answers with a failure status, or with something that is not JSON."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Repo:
    """Where to talk to: GitHub's API, the `owner/name` repository, and the token."""

    api_url: str
    repository: str
    token: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Repo:
        """From GITHUB_API_URL (optional), GITHUB_REPOSITORY and GITHUB_TOKEN."""
        token = env.get("GITHUB_TOKEN", "")
        repository = env.get("GITHUB_REPOSITORY", "")
        api_url = env.get("GITHUB_API_URL") or DEFAULT_API_URL
        if not token:
            raise UsageError("set GITHUB_TOKEN (in a workflow: ${{ github.token }})")
        if not _REPOSITORY.match(repository) or {".", ".."} & set(repository.split("/")):
            raise UsageError(f"GITHUB_REPOSITORY must be OWNER/NAME, not {repository!r}")
        if not api_url.startswith(("https://", "http://")):
            raise UsageError(f"GITHUB_API_URL must be an http(s) URL, not {api_url!r}")
        return cls(api_url.rstrip("/"), repository, token)


def pull_request_number(env: Mapping[str, str], given: int | None) -> int:
    """`--pr N`, else the pull request (or issue) of the event in GITHUB_EVENT_PATH."""
    if given is not None:
        return given
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        raise UsageError("give --pr N, or run in a workflow (GITHUB_EVENT_PATH is not set)")
    try:
        event = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: cannot read the event file ({error})") from None
    for key in ("pull_request", "issue"):
        number = event.get(key, {}).get("number") if isinstance(event, dict) else None
        if isinstance(number, int):
            return number
    raise UsageError(f"{path}: the event has no pull request; give --pr N")


def _rate_limited(response: httpx.Response) -> bool:
    # GitHub's rate limits answer 429, or 403 with Retry-After (secondary limits), and
    # carry nothing out: even a create may be sent again.
    if response.status_code == 429:
        return True
    return response.status_code == 403 and "retry-after" in response.headers


def _retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES or _rate_limited(response)


class GitHub:
    """Calls on one repository; every answer is checked, and failures raise GitHubError."""

    def __init__(self, client: httpx.AsyncClient, repo: Repo, policy: RetryPolicy) -> None:
        self.client = client
        self.repo = repo
        self.policy = policy
        self.origin = httpx.URL(repo.api_url)

    def path(self, *segments: str | int) -> str:
        """The repository's API path with `segments`, each escaped: an id or a name sent
        by GitHub or given by a user stays one segment (`/`, `?`, `#` and `..` included).
        """
        return "/".join([f"/repos/{self.repo.repository}", *map(_segment, segments)])

    async def call(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Any:
        """The decoded JSON answer of one request."""
        response = await self._send(method, url, body, params, idempotent)
        return _decode(response, method, url)

    async def pages(self, url: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Every item of a listing, following `Link: <...>; rel="next"`."""
        items: list[Any] = []
        next_url: str | None = url
        query: dict[str, Any] | None = {**(params or {}), "per_page": PER_PAGE}
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            if next_url is None:
                return items
            response = await self._send("GET", next_url, None, query, True)
            page = _decode(response, "GET", url)
            if not isinstance(page, list):
                raise GitHubError(f"GitHub answered GET {url} with something not a list")
            items.extend(page)
            seen.add(str(response.request.url))
            next_url = self._next(response)
            if next_url is not None and str(httpx.URL(next_url)) in seen:
                raise GitHubError(f"GET {url}: the next page is one already read; stopped")
            query = None  # the next link carries its own query
        raise GitHubError(f"GET {url}: more than {MAX_PAGES} pages; stopped")

    def _next(self, response: httpx.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        target = httpx.URL(link)
        # The token goes only to the API it was given for.
        if (target.scheme, target.host, target.port) != (
            self.origin.scheme,
            self.origin.host,
            self.origin.port,
        ):
            raise GitHubError(f"GitHub's next page is on another host ({target.host}); stopped")
        return link

    async def _send(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        params: dict[str, Any] | None,
        idempotent: bool,
    ) -> httpx.Response:
        request = self.client.build_request(method, url, json=body, params=params)
        return await send(
            self.client,
            request,
            self.policy,
            idempotent=idempotent,
            retryable=_retryable,
            refused=_rate_limited,
            server="GitHub",
        )


def _segment(value: str | int) -> str:
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


def number(value: object, what: str) -> int:
    """An id or number from GitHub's answer, which must be a positive integer; `what` names
    it with its article ("an issue number")."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    raise GitHubError(f"GitHub sent {what} that is not a positive integer: {value!r:.60}")


def timestamp(value: object) -> datetime:
    """One of GitHub's ISO 8601 timestamps as an aware datetime in UTC.

    GitHub writes `Z`; one without an offset is taken as UTC, so no two are ever
    compared naive against aware.
    """
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise GitHubError(f"GitHub sent a timestamp that is not ISO 8601: {value!r:.60}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _decode(response: httpx.Response, method: str, url: str) -> Any:
    where = httpx.URL(url).path
    try:
        payload = response.json() if response.content else None
    except (ValueError, RecursionError):
        payload = None
    if not 200 <= response.status_code < 300:
        # A 3xx is not followed (the token stays with the API it was given for) and is
        # no success, whatever its body says.
        message = payload.get("message") if isinstance(payload, dict) else None
        detail = f": {str(message)[:300]}" if message else ""
        hint = _HINTS.get(response.status_code, "")
        if 300 <= response.status_code < 400:
            hint = " (a redirect; reconcile does not follow them: check GITHUB_API_URL)"
        raise GitHubError(
            f"GitHub answered {response.status_code} to {method} {where}{detail}{hint}",
            response.status_code,
        )
    if payload is None and response.status_code != 204:
        raise GitHubError(f"GitHub answered {method} {where} with something not JSON")
    return payload


async def create(
    github: GitHub, url: str, body: dict[str, Any], find: Finder
) -> tuple[dict[str, Any], bool]:
    """POST once; when it may have happened anyway, look before posting again.

    Returns the object and whether this call created it (False: `find` found one).
    """
    try:
        return await github.call("POST", url, body=body, idempotent=False), True
    except Unreachable:
        pass
    except GitHubError as error:
        if error.status not in RETRY_STATUSES:
            raise
    found = await find()
    if found is not None:
        return found, False
    return await github.call("POST", url, body=body, idempotent=False), True


Finder = Callable[[], Awaitable[dict[str, Any] | None]]


def run_url(env: Mapping[str, str]) -> str | None:
    """The link to the current workflow run, where its artifacts are."""
    server, repository, run = (
        env.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if not (server and repository and run):
        return None
    return f"{server.rstrip('/')}/{repository}/actions/runs/{run}"


@asynccontextmanager
async def connect(
    repo: Repo,
    policy: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    deadline: float = DEADLINE,
    limit: int = MAX_ANSWER,
) -> AsyncIterator[GitHub]:
    """A GitHub client for `repo`, closed on exit."""
    headers = {
        "Authorization": f"Bearer {repo.token}",
        "Accept": "application/vnd.github+json",
        "Accept-Encoding": "identity",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": f"reconcile/{__version__}",
    }
    async with Bounded(
        deadline=deadline,
        limit=limit,
        base_url=repo.api_url,
        headers=headers,
        timeout=TIMEOUT,
        transport=transport,
    ) as client:
        yield GitHub(client, repo, policy or RetryPolicy())

"""One delivery attempt over httpx: checked address, total deadline, no redirects, bounded read.

Every attempt resolves the host, checks every address against the policy and sends to
the address it checked (the URL carries the IP; `Host` and TLS SNI carry the name, and
the certificate is verified against the name), so no second DNS lookup can redirect
it. The whole attempt, slow headers and dripping bodies included, ends by `deadline`.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import httpx

from reconcile import __version__
from reconcile.runtime import addresses, schedule
from reconcile.runtime.addresses import Address, Policy, Resolver

MAX_READ = 64 * 1024
EXCERPT = 1024
MAX_ADDRESSES = 4
# No Accept-Encoding: answers come uncompressed, so the read limit bounds what arrives.
_FIXED_HEADERS = (("Connection", "keep-alive"), ("User-Agent", f"reconcile/{__version__}"))
RETRYABLE_STATUS = frozenset({408, 425, 429})
RETRYABLE_ERRORS = frozenset({"dns", "connect", "timeout", "reset", "protocol"})


@dataclass(frozen=True)
class Limits:
    """How long an attempt may take and how much of an answer is read and kept."""

    deadline: float = schedule.DEADLINE
    max_read: int = MAX_READ
    excerpt: int = EXCERPT

    @classmethod
    def scaled(cls, env: Mapping[str, str]) -> Limits:
        """The defaults, with the deadline scaled by RECONCILE_DELIVERY_TIME_SCALE."""
        return cls(deadline=schedule.DEADLINE * schedule.time_scale(env))


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to.

    `error` is None for a 2xx answer, else its class: `blocked` (the policy refused;
    nothing was sent), `url`, `dns`, `connect`, `tls`, `timeout`, `reset`, `protocol`,
    `redirect` (a 3xx, not followed) or `status` (any other answer).
    """

    status: int | None
    duration: float
    error: str | None = None
    detail: str = ""
    excerpt: str = ""
    received: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    retry_after: float | None = None
    address: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def retryable(self) -> bool:
        """Whether trying again could help: network trouble, 408/425/429 and 5xx answers."""
        if self.error in RETRYABLE_ERRORS:
            return True
        return self.status is not None and (self.status in RETRYABLE_STATUS or self.status >= 500)


class _Done(Exception):
    """Carries an outcome out of the attempt."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class Sender:
    """Sends attempts; one per delivery endpoint or one shared, safe for concurrent use."""

    def __init__(
        self,
        policy: Policy | None = None,
        limits: Limits | None = None,
        *,
        resolver: Resolver | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.policy = policy or Policy()
        self.limits = limits or Limits()
        self.resolver: Resolver = resolver or addresses.resolve
        self.verify = verify
        # Clients per host name: pools are keyed by the pinned IP, and a TLS connection
        # verified for one name must never carry a request for another. An attempt takes
        # an idle client for itself and gives it back, so each client's pool carries one
        # request at a time and keeps its connection alive: one pool shared by many
        # attempts at once costs every attempt a check of all its connections.
        self.clients: list[httpx.AsyncClient] = []
        self.idle: dict[tuple[str, str], list[httpx.AsyncClient]] = {}
        self._tls: ssl.SSLContext | bool | None = None

    def _take(self, scheme: str, host: str) -> httpx.AsyncClient:
        idle = self.idle.setdefault((scheme, host), [])
        if idle:
            return idle.pop()
        if self._tls is None:  # one context (its CA bundle loaded once) for every client
            self._tls = httpx.create_ssl_context() if self.verify is True else self.verify
        client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would connect elsewhere
            verify=self._tls,
            timeout=httpx.Timeout(self.limits.deadline),
        )
        self.clients.append(client)
        return client

    def _give(self, scheme: str, host: str, client: httpx.AsyncClient) -> None:
        if not client.is_closed:
            self.idle.setdefault((scheme, host), []).append(client)

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients, self.clients, self.idle = self.clients, [], {}
        for client in clients:
            await client.aclose()

    async def send(self, url: str, body: bytes, headers: list[tuple[str, str]]) -> Outcome:
        """POST `body` with `headers` to `url`: one attempt, ended by the deadline."""
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.limits.deadline):
                outcome = await self._attempt(url, body, headers)
        except _Done as done:
            outcome = done.outcome
        except TimeoutError:
            detail = f"no complete answer within {self.limits.deadline:g} s"
            outcome = Outcome(None, 0.0, "timeout", detail)
        return replace(outcome, duration=time.monotonic() - start)

    async def _attempt(self, url: str, body: bytes, headers: list[tuple[str, str]]) -> Outcome:
        target, scheme, host, port = _parse(url)
        vetted = await self._vet(scheme, host, port)
        failure = Outcome(None, 0.0, "connect", f"{host} has no address")
        for ip in vetted[:MAX_ADDRESSES]:
            try:
                return await self._post(target, host, ip, body, headers)
            except httpx.ConnectError as error:  # nothing was sent: the next address may answer
                failure = _failure(error, ip)
                if failure.error == "tls":
                    break
        return failure

    async def _vet(self, scheme: str, host: str, port: int) -> list[Address]:
        try:
            found = [ipaddress.ip_address(a) for a in await self.resolver(host, port)]
        except (OSError, UnicodeError, ValueError) as error:
            raise _Done(Outcome(None, 0.0, "dns", f"{host}: {error}")) from None
        refusal = self.policy.refusal(scheme, host, found, port)
        if refusal is not None:
            raise _Done(Outcome(None, 0.0, "blocked", refusal))
        return found

    async def _post(
        self, target: httpx.URL, host: str, ip: Address, body: bytes, headers: list[tuple[str, str]]
    ) -> Outcome:
        pinned = _pinned(target, str(ip))
        extensions = {}
        if target.scheme == "https" and not _is_ip(host):
            extensions["sni_hostname"] = host
        client = self._take(target.scheme, host)
        try:
            # Built here rather than by the client: the request carries only our headers
            # (the client's would add Accept and Accept-Encoding), in this order.
            request = httpx.Request(
                "POST",
                pinned,
                content=body,
                headers=[*_FIXED_HEADERS, ("Host", _host_header(target)), *headers],
                extensions=extensions,
            )
            try:
                response = await client.send(request, stream=True)
                try:
                    data = await self._read(response)
                finally:
                    await response.aclose()
            except httpx.ConnectError:
                raise
            except httpx.HTTPError as error:
                return _failure(error, ip)
        finally:
            self._give(target.scheme, host, client)
        return self._outcome(response, data, ip)

    async def _read(self, response: httpx.Response) -> bytes:
        data = bytearray()
        async for chunk in response.aiter_raw():
            data += chunk[: self.limits.max_read - len(data)]
            if len(data) >= self.limits.max_read:
                break
        return bytes(data)

    def _outcome(self, response: httpx.Response, data: bytes, ip: Address) -> Outcome:
        status = response.status_code
        error, detail = None, f"HTTP {status}"
        if 300 <= status < 400:
            where = response.headers.get("location", "nowhere")
            error, detail = (
                "redirect",
                f"HTTP {status} to {where[:200]}: redirects are not followed",
            )
        elif not 200 <= status < 300:
            error = "status"
        excerpt = data[: self.limits.excerpt].decode("utf-8", "replace")
        return Outcome(
            status,
            0.0,
            error,
            detail,
            excerpt,
            len(data),
            tuple(response.headers.multi_items()),
            retry_after(response.headers.get("retry-after")),
            str(ip),
        )


@functools.lru_cache(maxsize=1024)
def _parse(url: str) -> tuple[httpx.URL, str, str, int]:
    """The URL parsed (cached: a delivery's URL is parsed on every attempt)."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise _Done(Outcome(None, 0.0, "url", f"{url!r}: {error}")) from None
    scheme, host = target.scheme, target.host
    if scheme not in ("http", "https") or not host:
        raise _Done(Outcome(None, 0.0, "url", f"{url!r} is not an http(s) URL with a host"))
    port = target.port or (443 if scheme == "https" else 80)
    return target, scheme, host, port


@functools.lru_cache(maxsize=1024)
def _pinned(target: httpx.URL, ip: str) -> httpx.URL:
    """`target` with the checked address in place of its host."""
    return target.copy_with(host=ip)


def _host_header(target: httpx.URL) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{host}:{target.port}" if target.port else host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _failure(error: httpx.HTTPError, ip: Address) -> Outcome:
    text = str(error) or type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        kind = "timeout"
    elif isinstance(error, httpx.ConnectError):
        kind = "tls" if _tls(error) else "connect"
    elif isinstance(error, httpx.ReadError | httpx.WriteError):
        kind = "reset"
    else:
        kind = "protocol"
    return Outcome(None, 0.0, kind, f"{ip}: {text}", address=str(ip))


def _tls(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError | ssl.CertificateError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(min(int(text), 10**9))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

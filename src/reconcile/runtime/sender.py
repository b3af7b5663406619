"""One delivery attempt: checked address, total deadline, no redirects, bounded read.

Every attempt resolves the host, checks every address against the policy and sends to
the address it checked (the URL carries the IP; `Host` and TLS SNI carry the name, and
the certificate is verified against the name), so no second DNS lookup can redirect
it. The whole attempt, slow headers and dripping bodies included, ends by `deadline`.
The HTTP/1.1 exchange itself is `http11` (asyncio streams framed by h11, keep-alive).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import functools
import ipaddress
import re
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import h11
import httpx

from reconcile import __version__
from reconcile.runtime import addresses, http11, schedule
from reconcile.runtime.addresses import Address, Policy, Resolver

MAX_READ = 64 * 1024
EXCERPT = 1024
MAX_ADDRESSES = 4
_FIXED_HEADERS = (("Connection", "keep-alive"), ("User-Agent", f"reconcile/{__version__}"))
RETRYABLE_STATUS = frozenset({408, 425, 429})
RETRYABLE_ERRORS = frozenset({"dns", "connect", "timeout", "reset", "protocol"})
# RFC 9110's field-name and field-value, as h11 checks them (its own check costs a
# third of building a request; the request is then handed to h11 as already checked).
_FIELD_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
CHECKS_KEPT = 1024  # policy checks remembered per sender, by their exact inputs


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
        self._pool: http11.Pool | None = None
        # The policy's answer per (policy, scheme, host, addresses, port): a pure
        # function of those, so an attempt whose lookup gave the same answer as an
        # earlier one reuses its verdict; every lookup's addresses are still checked.
        self._checked: dict[tuple[object, ...], str | None] = {}

    @property
    def pool(self) -> http11.Pool:
        """Keep-alive connections per checked address, name and scheme (`http11.Pool`)."""
        if self._pool is None:  # one TLS context (its CA bundle loaded once) for all
            self._pool = http11.Pool(_tls_context(self.verify))
        return self._pool

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()

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
        target = _parse(url)
        vetted = await self._vet(target.scheme, target.host, target.port)
        try:
            head = _head(target, body, headers)
        except h11.LocalProtocolError:  # its text would quote the (maybe secret) value
            return Outcome(None, 0.0, "protocol", "the request's headers are not valid HTTP")
        failure = Outcome(None, 0.0, "connect", f"{target.host} has no address")
        for ip in vetted[:MAX_ADDRESSES]:
            origin = http11.Origin(target.scheme, target.name, str(ip), target.port)
            try:
                answer = await self.pool.exchange(origin, head, body, self.limits.max_read)
            except http11.Failed as failed:
                failure = Outcome(None, 0.0, failed.kind, f"{ip}: {failed.text}", address=str(ip))
                if failed.kind == "connect":  # nothing was sent: the next address may answer
                    continue
                return failure
            return self._outcome(answer, ip)
        return failure

    async def _vet(self, scheme: str, host: str, port: int) -> list[Address]:
        try:
            found = [_address(a) for a in await self.resolver(host, port)]
        except (OSError, UnicodeError, ValueError) as error:
            raise _Done(Outcome(None, 0.0, "dns", f"{host}: {error}")) from None
        key = (self.policy, scheme, host, tuple(found), port)
        try:
            refusal = self._checked[key]
        except KeyError:
            refusal = self.policy.refusal(scheme, host, found, port)
            if len(self._checked) >= CHECKS_KEPT:
                self._checked.clear()
            self._checked[key] = refusal
        if refusal is not None:
            raise _Done(Outcome(None, 0.0, "blocked", refusal))
        return found

    def _outcome(self, answer: http11.Answer, ip: Address) -> Outcome:
        status = answer.status
        error, detail = None, f"HTTP {status}"
        if 300 <= status < 400:
            where = _header(answer.headers, "location") or "nowhere"
            error, detail = (
                "redirect",
                f"HTTP {status} to {where[:200]}: redirects are not followed",
            )
        elif not 200 <= status < 300:
            error = "status"
        excerpt = answer.body[: self.limits.excerpt].decode("utf-8", "replace")
        return Outcome(
            status,
            0.0,
            error,
            detail,
            excerpt,
            len(answer.body),
            answer.headers,
            retry_after(_header(answer.headers, "retry-after")),
            str(ip),
        )


@dataclass(frozen=True)
class _Target:
    """A delivery URL, parsed: `host` as written (resolved and checked), `name` its
    ASCII form (Host and TLS SNI), `path` the request target, `host_header` the Host."""

    scheme: str
    host: str
    name: str
    port: int
    path: bytes
    host_header: str
    basic: str | None


@functools.lru_cache(maxsize=1024)
def _parse(url: str) -> _Target:
    """The URL parsed (cached: a delivery's URL is parsed on every attempt)."""
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise _Done(Outcome(None, 0.0, "url", f"{url!r}: {error}")) from None
    scheme, host = target.scheme, target.host
    if scheme not in ("http", "https") or not host:
        raise _Done(Outcome(None, 0.0, "url", f"{url!r} is not an http(s) URL with a host"))
    port = target.port or (443 if scheme == "https" else 80)
    name = target.raw_host.decode("ascii")
    shown = f"[{name}]" if ":" in name else name
    host_header = f"{shown}:{target.port}" if target.port else shown
    basic = None
    if target.userinfo:  # as httpx did: credentials in the URL are sent as Basic auth
        userpass = f"{target.username}:{target.password}".encode()
        basic = "Basic " + base64.b64encode(userpass).decode("ascii")
    return _Target(scheme, host, name, port, target.raw_path, host_header, basic)


def _head(target: _Target, body: bytes, headers: list[tuple[str, str]]) -> h11.Request:
    """The request line and headers: ours, then the delivery's, nothing else (no
    Accept-Encoding: answers come uncompressed, so the read limit bounds what arrives)."""
    fixed = [("Host", target.host_header), *_FIXED_HEADERS, ("Content-Length", str(len(body)))]
    if target.basic is not None:
        headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
        headers.append(("Authorization", target.basic))
    encoded = [_field(name, value) for name, value in [*fixed, *headers]]
    # Checked above, so h11 skips its own check of each field (it still checks the
    # method, the target, Host and the framing headers).
    return h11.Request(method=b"POST", target=target.path, headers=encoded, _parsed=True)


def _field(name: str, value: str) -> tuple[bytes, bytes]:
    """One header as bytes; LocalProtocolError (naming neither) if it is not valid HTTP."""
    try:
        raw = (name.encode("ascii"), value.encode("ascii"))
    except UnicodeEncodeError:
        raise h11.LocalProtocolError("a header is not ASCII") from None
    if _FIELD_NAME.fullmatch(raw[0]) is None or _FIELD_VALUE.fullmatch(raw[1]) is None:
        raise h11.LocalProtocolError("a header is not valid HTTP")
    return raw


@functools.lru_cache(maxsize=1024)
def _address(text: str) -> Address:
    """An address from its text (cached: the same few addresses come back every attempt)."""
    return ipaddress.ip_address(text)


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _tls_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext | None:
    """The context for https: the one given, else httpx's (certifi's CA bundle)."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    return httpx.create_ssl_context(verify=verify)


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

"""The sending core against loopback fault endpoints: S1, S2, S7, R3, R5, R6 and outcomes."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconcile.runtime import signing
from reconcile.runtime.addresses import Policy
from reconcile.runtime.sender import MAX_READ, Limits, Outcome, Sender, retry_after
from tests.runtime.certs import make_tls
from tests.runtime.faults import HUGE, FaultServer

LOOPBACK = Policy.of(["127.0.0.1"])
DEADLINE = 0.5
FAST = Limits(deadline=DEADLINE)  # for the timeouts; an answer given is waited for in full
BODY = b'{"event":"ADD_ARTIFACT_ALIAS","n":1}'


class Answers:
    """A resolver that gives one prepared answer per lookup and counts lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers.pop(0)


def send_all(
    urls: list[str],
    policy: Policy = LOOPBACK,
    limits: Limits = Limits(),  # noqa: B008 - frozen
    **options: object,
) -> list[Outcome]:
    """Each URL in turn, through one Sender (as the worker uses one)."""

    async def go() -> list[Outcome]:
        async with Sender(policy, limits, **options) as sender:  # type: ignore[arg-type]
            return [
                await sender.send(url, BODY, [("Content-Type", "application/json")]) for url in urls
            ]

    return asyncio.run(go())


def send(url: str, policy: Policy = LOOPBACK, **options: object) -> Outcome:
    return send_all([url], policy, **options)[0]


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    with FaultServer() as server:
        yield server


def test_a_2xx_delivers_the_exact_bytes_and_only_our_headers(faults: FaultServer) -> None:
    headers = signing.headers(signing.Credentials("tok", "key"), BODY, "msg_1", 1700000000)

    async def go() -> Outcome:
        async with Sender(LOOPBACK, Limits()) as sender:
            return await sender.send(faults.url("/ok"), BODY, headers)

    outcome = asyncio.run(go())
    assert (outcome.ok, outcome.status, outcome.error, outcome.excerpt) == (
        True,
        200,
        None,
        '{"ok":true}',
    )
    assert ("x-answer", "yes") in outcome.headers
    (got,) = faults.requests
    assert got.body == BODY
    assert sorted(got.headers) == sorted(
        ["host", "connection", "user-agent", "content-length", *(n.lower() for n, _ in headers)]
    )
    assert signing.verify_wandb("key", got.body, got.headers["x-wandb-signature"])
    assert got.headers["authorization"] == "Bearer tok"


@pytest.mark.parametrize(
    ("path", "status", "retryable"),
    [("/500", 500, True), ("/503", 503, True), ("/404", 404, False)],
)
def test_error_answers_are_failures_with_an_excerpt(
    faults: FaultServer, path: str, status: int, retryable: bool
) -> None:
    outcome = send(faults.url(path))
    assert (outcome.status, outcome.error, outcome.retryable) == (status, "status", retryable)
    assert outcome.excerpt in ("Internal Server Error: boom", "unavailable", "no such hook")


def test_429_carries_its_retry_after(faults: FaultServer) -> None:
    outcome = send(faults.url("/429"))
    assert (outcome.status, outcome.retry_after, outcome.retryable) == (429, 7.0, True)


@pytest.mark.parametrize("path", ["/hang", "/slow-headers", "/drip"])
def test_r3_every_attempt_ends_by_the_total_deadline(faults: FaultServer, path: str) -> None:
    outcome = send(faults.url(path), limits=FAST)
    assert (outcome.status, outcome.error, outcome.retryable) == (None, "timeout", True)
    assert outcome.detail == f"no complete answer within {DEADLINE:g} s"
    assert outcome.duration >= DEADLINE
    assert faults.paths() == [path]


def test_r5_a_redirect_is_a_failure_and_its_target_receives_nothing(faults: FaultServer) -> None:
    outcome = send(faults.url("/redirect"))
    assert (outcome.status, outcome.error, outcome.retryable) == (302, "redirect", False)
    assert outcome.detail == f"HTTP 302 to {faults.url('/target')}: redirects are not followed"
    assert faults.paths() == ["/redirect"]


def test_r6_at_most_64_kib_of_an_answer_is_read(faults: FaultServer) -> None:
    outcome = send(faults.url("/huge"))
    assert (outcome.status, outcome.received, len(outcome.excerpt)) == (200, MAX_READ, 1024)
    assert outcome.excerpt == "y" * 1024
    # The sender closed the connection instead of reading on: most of the body was never sent.
    assert faults.huge_sent < HUGE // 4


def test_a_reset_connection_is_a_retryable_failure(faults: FaultServer) -> None:
    outcome = send(faults.url("/reset"))
    assert (outcome.status, outcome.error, outcome.retryable) == (None, "reset", True)


def test_nothing_listening_is_a_connect_failure() -> None:
    with socket.socket() as sock:  # bound, never listening: nothing else can take it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        outcome = send(f"http://127.0.0.1:{port}/ok")
    assert (outcome.error, outcome.retryable, outcome.address) == ("connect", True, "127.0.0.1")


LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f000001",
    "localhost",
]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_s1_the_default_blocks_every_spelling_of_loopback(faults: FaultServer, host: str) -> None:
    outcome = send(f"http://{host}:{faults.port}/ok", Policy())
    assert (outcome.error, outcome.retryable, outcome.status) == ("blocked", False, None)
    assert "a loopback address: deliveries go to public addresses only" in outcome.detail
    assert faults.requests == []


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_s1_an_allow_listed_loopback_receives_them(faults: FaultServer, host: str) -> None:
    outcome = send(f"http://{host}:{faults.port}/ok", LOOPBACK)
    assert (outcome.status, outcome.address) == (200, "127.0.0.1")
    assert faults.paths() == ["/ok"]


def test_s1_ipv4_mapped_loopback_is_blocked(faults: FaultServer) -> None:
    outcome = send(f"http://[::ffff:127.0.0.1]:{faults.port}/ok", Policy())
    assert outcome.error == "blocked"
    assert outcome.detail.startswith("::ffff:127.0.0.1, a IPv4-mapped loopback address")
    assert faults.requests == []


def test_s2_connects_to_the_checked_address_and_names_the_host(faults: FaultServer) -> None:
    resolver = Answers(["127.0.0.1"])
    outcome = send(f"http://hook.test:{faults.port}/ok", resolver=resolver)
    assert (outcome.status, outcome.address) == (200, "127.0.0.1")
    assert resolver.calls == [("hook.test", faults.port)]
    assert faults.requests[0].headers["host"] == f"hook.test:{faults.port}"


def test_s2_every_attempt_resolves_and_checks_again(faults: FaultServer) -> None:
    resolver = Answers(["127.0.0.1"], ["10.0.0.7"])
    url = f"http://hook.test:{faults.port}/ok"
    first, second = send_all([url, url], resolver=resolver)
    assert (first.status, second.error) == (200, "blocked")
    assert second.detail.startswith("hook.test resolves to 10.0.0.7, a private address")
    assert len(resolver.calls) == 2
    assert faults.paths() == ["/ok"]


def test_s2_a_remembered_verdict_never_covers_a_new_answer(faults: FaultServer) -> None:
    # The policy's verdict is remembered per exact lookup answer: the same answer
    # twice reuses it, a different one (here a private address) is checked afresh.
    resolver = Answers(["127.0.0.1"], ["127.0.0.1"], ["10.0.0.7"], ["127.0.0.1"])
    url = f"http://hook.test:{faults.port}/ok"
    outcomes = send_all([url, url, url, url], resolver=resolver)
    assert [(o.status, o.error) for o in outcomes] == [
        (200, None),
        (200, None),
        (None, "blocked"),
        (200, None),
    ]
    assert outcomes[2].detail.startswith("hook.test resolves to 10.0.0.7, a private address")
    assert len(resolver.calls) == 4
    assert faults.paths() == ["/ok", "/ok", "/ok"]


def test_s2_a_remembered_refusal_is_refused_again_with_nothing_sent(faults: FaultServer) -> None:
    resolver = Answers(["10.0.0.7"], ["10.0.0.7"])
    url = f"http://hook.test:{faults.port}/ok"
    first, second = send_all([url, url], resolver=resolver)
    assert (first.error, second.error) == ("blocked", "blocked")
    assert second.detail == first.detail
    assert len(resolver.calls) == 2
    assert faults.requests == []


def test_s2_one_forbidden_address_among_several_refuses_the_host(faults: FaultServer) -> None:
    outcome = send(
        f"http://hook.test:{faults.port}/ok", resolver=Answers(["127.0.0.1", "169.254.169.254"])
    )
    assert outcome.error == "blocked"
    assert outcome.detail.startswith(
        "hook.test resolves to 169.254.169.254, a cloud metadata address"
    )
    assert faults.requests == []


def test_s2_tls_names_the_host_in_sni_and_verifies_the_certificate_against_it(
    tmp_path: Path,
) -> None:
    tls = make_tls(tmp_path, "hook.test")
    with FaultServer(tls=tls.server) as faults:
        outcome = send(
            f"https://hook.test:{faults.port}/ok",
            resolver=Answers(["127.0.0.1"]),
            verify=tls.client,
        )
        assert (outcome.status, outcome.address) == (200, "127.0.0.1")
        assert faults.sni == ["hook.test"]
        assert faults.requests[0].headers["host"] == f"hook.test:{faults.port}"
        wrong = send(
            f"https://other.test:{faults.port}/ok",
            resolver=Answers(["127.0.0.1"]),
            verify=tls.client,
        )
        assert (wrong.error, wrong.retryable) == ("tls", False)
        assert "other.test" in wrong.detail
        assert len(faults.requests) == 1


def test_s2_a_tls_connection_verified_for_one_name_never_carries_another(tmp_path: Path) -> None:
    tls = make_tls(tmp_path, "hook.test")
    with FaultServer(tls=tls.server) as faults:
        urls = [f"https://hook.test:{faults.port}/ok", f"https://other.test:{faults.port}/ok"]
        resolver = Answers(["127.0.0.1"], ["127.0.0.1"])
        first, second = send_all(urls, resolver=resolver, verify=tls.client)
        assert (first.status, second.error) == (200, "tls")
        assert faults.sni == ["hook.test", "other.test"]
        assert [r.headers["host"] for r in faults.requests] == [f"hook.test:{faults.port}"]


def test_s7_plain_http_only_where_allow_listed(faults: FaultServer) -> None:
    # By name: the host is listed, so its http URL is allowed whatever it resolves to.
    by_name = send(
        f"http://hook.test:{faults.port}/ok",
        Policy.of(["hook.test"]),
        resolver=Answers(["127.0.0.1"]),
    )
    assert by_name.status == 200
    assert Policy().refusal("http", "hooks.example.com", [_ip("93.184.216.34")]) == (
        "plain http to hooks.example.com: deliveries use https unless the destination is "
        "allow-listed (add --allow-delivery-to hooks.example.com:80)"
    )
    assert Policy().refusal("https", "hooks.example.com", [_ip("93.184.216.34")]) is None
    assert (
        Policy.of(["93.184.216.0/24"]).refusal("http", "h.example", [_ip("93.184.216.34")]) is None
    )


def test_bad_urls_are_failures_not_exceptions() -> None:
    for url, detail in [
        ("ftp://example.com/x", "'ftp://example.com/x' is not an http(s) URL with a host"),
        ("http:///nohost", "'http:///nohost' is not an http(s) URL with a host"),
    ]:
        outcome = send(url)
        assert (outcome.error, outcome.detail, outcome.retryable) == ("url", detail, False)


def _ip(text: str):  # type: ignore[no-untyped-def]
    import ipaddress

    return ipaddress.ip_address(text)


def test_outcome_excerpt_is_text_even_for_binary_answers(faults: FaultServer) -> None:
    outcome = send(faults.url("/ok"))
    assert json.loads(outcome.excerpt) == {"ok": True}


def test_retry_after_in_seconds_or_as_a_date() -> None:
    import email.utils
    import time

    assert retry_after("120") == 120.0
    assert retry_after(" 0 ") == 0.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: now
    future = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert 3500 < (retry_after(future) or 0) <= 3600
    for bad in (None, "", "soon", "-5", "1.5"):
        assert retry_after(bad) is None

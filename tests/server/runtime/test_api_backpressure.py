"""The intake's bounded queue, over HTTP with a real client: past a user's share the
request is answered 429, past the whole queue 503, each with Retry-After; admitted
requests are stored once the writer frees, and the refused one goes through when sent
again."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconcile.core.errors import UsageError
from reconcile.server.admin import listen
from reconcile.server.runtime import api, events
from tests.server.helpers import World, basic, build_world
from tests.server.live import HttpClient, running
from tests.server.runtime.support import alias_event


@pytest.fixture
def bounded(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[World, str]]:
    """A live server whose intake holds at most 10 events (5 per user)."""
    monkeypatch.setenv(api.QUEUE_ENV, "10")
    with running(db_path, limits=listen.Limits()) as live:
        yield build_world(HttpClient(live)), live.url


def _body(prefix: str, count: int) -> bytes:
    return json.dumps({"events": [alias_event(f"{prefix}{n}") for n in range(count)]}).encode()


def _held_store(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """The writer's first turn waits for `release` once it has begun (`storing`)."""
    storing, release = threading.Event(), threading.Event()
    real = events.store_many

    def held(db: Any, box: Any, requests: Any, app_url: str) -> Any:
        storing.set()
        assert release.wait(60)
        return real(db, box, requests, app_url)

    monkeypatch.setattr(events, "store_many", held)
    return storing, release


def test_a_full_queue_answers_429_and_503_with_retry_after(
    bounded: tuple[World, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world, url = bounded
    admin = basic(world.admin.key)
    member = basic(world.member.key)
    storing, release = _held_store(monkeypatch)

    async def main() -> dict[str, httpx.Response]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:

            def post(headers: dict[str, str], body: bytes) -> Any:
                return client.post("/api/v1/events", content=body, headers=headers)

            first = asyncio.ensure_future(post(admin, _body("a", 5)))  # the turn, held
            assert await asyncio.to_thread(storing.wait, 30)
            answers = {"own share": await post(admin, _body("b", 1))}  # 5 + 1 > 5 of 10
            answers["whole queue"] = await post(member, _body("c", 6))  # 5 + 6 > 10
            queued = asyncio.ensure_future(post(member, _body("d", 5)))  # 5 + 5 fits
            answers["healthz"] = await client.get("/healthz")
            release.set()
            answers["first"], answers["queued"] = await asyncio.gather(first, queued)
            answers["again"] = await post(admin, _body("b", 1))
            return answers

    answers = asyncio.run(main())
    assert answers["own share"].status_code == 429
    assert answers["own share"].headers["retry-after"] == "1"
    assert answers["own share"].json() == {
        "error": {"message": "too many events waiting to be stored for this key (5)"}
    }
    assert answers["whole queue"].status_code == 503
    assert answers["whole queue"].headers["retry-after"] == "1"
    assert answers["whole queue"].json() == {
        "error": {"message": "the server is storing other events (5 waiting)"}
    }
    assert answers["healthz"].status_code == 200
    assert [answers[k].status_code for k in ("first", "queued", "again")] == [202, 202, 202]
    with world.db.read() as con:
        stored = [r[0] for r in con.execute("SELECT event_key FROM events ORDER BY id")]
    assert sorted(stored) == sorted(
        [f"a{n}" for n in range(5)] + [f"d{n}" for n in range(5)] + ["b0"]
    )


def test_a_request_larger_than_the_bound_is_stored_when_nothing_waits(
    bounded: tuple[World, str],
) -> None:
    world, url = bounded
    answer = httpx.post(
        f"{url}/api/v1/events", content=_body("big", 12), headers=basic(world.admin.key)
    )
    assert answer.status_code == 202
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 12


def test_the_bound_comes_from_the_environment() -> None:
    assert api.queue_events({}) == api.QUEUE_EVENTS
    assert api.queue_events({api.QUEUE_ENV: "64"}) == 64
    for wrong in ("many", "0"):
        with pytest.raises(UsageError, match=f"^RECONCILE_EVENTS_QUEUE='{wrong}': give a whole"):
            api.queue_events({api.QUEUE_ENV: wrong})

"""The server's limits over HTTP (uvicorn on 127.0.0.1): cost, caps, the run-time meter,
authentication before parsing, parser and cache bounds, and requests that must not wait
behind a large answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconcile.server.api import queries, service
from reconcile.server.store import automations as hooks
from reconcile.server.store.db import Database
from reconcile.server.store.teams import find_project, find_team, find_user
from tests.server.helpers import ALIAS_FILTER, TEAM, InProcess, World, basic, build_world
from tests.server.live import LiveServer, running

IN_PROJECT = 400  # automations in project "vision" (more than the 10 counted for it)

TRIGGER_FIELDS = """
fragment T on Trigger {
  __typename id createdAt updatedAt name description enabled
  scope { __typename ... on Project { id name } ... on Entity { id name } }
  event: triggeringCondition {
    __typename ... on FilterEventTriggeringCondition { eventType filter } }
  action: triggeredAction { __typename
    ... on GenericWebhookTriggeredAction { integration { __typename
      ... on GenericWebhookIntegration { id name urlEndpoint } } requestPayload }
    ... on NoOpTriggeredAction { noOp } }
}
"""


def pages(aliases: int, first: int = 1000) -> str:
    """`aliases` pages of the team's automations with every field of fragment T."""
    fields = " ".join(
        f"p{i}: triggers(first: {first}) {{ edges {{ node {{ ...T }} }} }}" for i in range(aliases)
    )
    return f'query {{ entity(name: "{TEAM}") {{ {fields} }} }}' + TRIGGER_FIELDS


def _populate(db: Database, count: int) -> None:
    with db.write() as con:
        team = find_team(con, TEAM)
        project = find_project(con, TEAM, "vision")
        user = find_user(con, "admin")
        assert team is not None
        assert project is not None
        assert user is not None
        for index in range(count):
            fields = hooks.TriggerFields(
                name=f"bulk-{index:04d}",
                description="managed-by: reconcile",
                enabled=True,
                scope_type="PROJECT",
                scope_id=project.id,
                event_type="ADD_ARTIFACT_ALIAS",
                event_filter=ALIAS_FILTER,
                action_type="NO_OP",
                integration_id=None,
                action_config=json.dumps({}),
            )
            hooks.create_trigger(con, team.id, fields, user.id)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, World]]:
    path: Path = tmp_path_factory.mktemp("cost") / "server.db"
    with running(path) as live:
        world = build_world(InProcess(live.app))
        _populate(world.db, IN_PROJECT)
        yield live, world


def _post(live: LiveServer, key: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    body = {"query": query, "variables": variables or {}}
    return httpx.post(f"{live.url}/graphql", json=body, headers=basic(key), timeout=60)


def _error(response: httpx.Response) -> tuple[int, str, str]:
    error = response.json()["errors"][0]
    return response.status_code, error["extensions"]["code"], error["message"]


def test_many_aliased_full_pages_are_refused_naming_the_budget(
    served: tuple[LiveServer, World],
) -> None:
    live, world = served
    fields = " ".join(
        f"a{i}: triggers(first: 1000) {{ edges {{ node {{ id name }} }} }}" for i in range(200)
    )
    response = _post(live, world.member.key, f'{{ entity(name: "{TEAM}") {{ {fields} }} }}')
    status, code, message = _error(response)
    assert (status, code) == (400, "QUERY_TOO_EXPENSIVE")
    assert message.startswith("query cost exceeds the budget of 500000")
    assert "data" not in response.json()


def test_nested_lists_multiply(served: tuple[LiveServer, World]) -> None:
    live, world = served
    query = (
        f'{{ entity(name: "{TEAM}") {{ projects(first: 1000) {{ edges {{ node {{ entity {{ '
        "triggers(first: 1000) { edges { node { id } } } } } } } } }"
    )
    status, code, message = _error(_post(live, world.member.key, query))
    assert (status, code) == (400, "QUERY_TOO_EXPENSIVE")
    assert "budget of 500000" in message


def test_the_largest_admitted_page_set_runs_and_one_more_page_is_refused(
    served: tuple[LiveServer, World],
) -> None:
    live, world = served
    admitted = _post(live, world.member.key, pages(5))
    assert admitted.status_code == 200, admitted.text
    entity = admitted.json()["data"]["entity"]
    assert [len(entity[f"p{i}"]["edges"]) for i in range(5)] == [IN_PROJECT] * 5
    assert _error(_post(live, world.member.key, pages(6)))[:2] == (400, "QUERY_TOO_EXPENSIVE")


def test_an_over_budget_mutation_is_not_executed(served: tuple[LiveServer, World]) -> None:
    live, world = served
    nested = (
        "scope { ... on Entity { triggers(first: 1000) { edges { node { "
        "scope { ... on Entity { triggers(first: 1000) { edges { node { id } } } } } } } } } }"
    )
    query = (
        "mutation ($input: CreateFilterTriggerInput!) {"
        f" createFilterTrigger(input: $input) {{ trigger {{ id {nested} }} }} }}"
    )
    variables = {
        "input": {
            "name": "never-created",
            "enabled": True,
            "scopeType": "PROJECT",
            "scopeID": world.project_id,
            "triggeringEventType": "ADD_ARTIFACT_ALIAS",
            "eventFilter": ALIAS_FILTER,
            "triggeredActionType": "NO_OP",
            "triggeredActionConfig": {"noOpActionInput": {"noOp": True}},
        }
    }
    status, code, _ = _error(_post(live, world.admin.key, query, variables))
    assert (status, code) == (400, "QUERY_TOO_EXPENSIVE")
    with world.db.read() as con:
        names = {t.name for t in hooks.triggers_page(con, 1, 0, 1000)}
    assert "never-created" not in names
    assert len(names) == IN_PROJECT


def test_alias_and_field_caps(served: tuple[LiveServer, World]) -> None:
    live, world = served
    aliases = "{ " + " ".join(f"v{i}: viewer {{ id }}" for i in range(201)) + " }"
    assert _error(_post(live, world.member.key, aliases)) == (
        400,
        "QUERY_TOO_EXPENSIVE",
        "query has more than 200 aliases",
    )
    # Twelve fragments, each spreading the previous twice: a short text, 8,192 fields.
    chain = ["fragment F0 on User { id name }"]
    chain += [f"fragment F{i} on User {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 13)]
    query = "query { viewer { ...F12 } } " + " ".join(chain)
    assert _error(_post(live, world.member.key, query)) == (
        400,
        "QUERY_TOO_EXPENSIVE",
        "query selects more than 2000 fields (fragments expanded)",
    )


def test_an_unpaged_list_longer_than_counted_is_charged_at_run_time(
    served: tuple[LiveServer, World],
) -> None:
    live, world = served
    read = f'project(name: "vision", entityName: "{TEAM}") {{ triggers {{ ...T }} }}'
    query = "query { " + " ".join(f"p{i}: {read}" for i in range(60)) + " }" + TRIGGER_FIELDS
    response = _post(live, world.member.key, query)
    status, code, message = _error(response)
    assert (status, code) == (400, "QUERY_TOO_EXPENSIVE")
    assert "a list without pagination is longer than the size counted for it" in message
    # Admitted at 55,200; each list answers 400 automations of 60 + 26, 390 more than
    # counted (33,540): after 13 lists 491,220 is spent, so the 14th may read only
    # 10 + 8,780 // 86 = 112 rows; it finds more and is refused, and none after it read.
    data = response.json()["data"]
    answered = [i for i in range(60) if data[f"p{i}"] is not None]
    assert answered == list(range(13))
    assert all(len(data[f"p{i}"]["triggers"]) == IN_PROJECT for i in answered)


def _documents(live: LiveServer) -> Any:
    return live.app.state.service.documents


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer local-" + "x" * 40}, {"Authorization": "Bearer short"}],
    ids=["no key", "unknown key", "malformed key"],
)
def test_without_a_valid_key_nothing_is_parsed_or_cached(
    served: tuple[LiveServer, World], headers: dict[str, str]
) -> None:
    live, _world = served

    def refused(content: bytes | str) -> None:
        response = httpx.post(f"{live.url}/graphql", content=content, headers=headers, timeout=30)
        assert response.status_code == 401, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    refused(b"\xff not json")
    before = _documents(live).cached_chars
    refused(b'{"query": "{ not graphql"}')
    big = "{ " + " ".join(f"v{i}: viewer {{ id }}" for i in range(4000)) + " }"
    refused(json.dumps({"query": big}))
    assert _documents(live).cached_chars == before
    # Refused before its size is even looked at.
    oversized = httpx.post(
        f"{live.url}/graphql",
        content=b"x" * (2 * 1024 * 1024),
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert oversized.status_code == 401


def test_the_parser_stops_at_5000_tokens(served: tuple[LiveServer, World]) -> None:
    live, world = served
    query = "{ viewer { " + "id " * 5000 + "} }"  # 5,005 tokens in 15,012 characters
    response = _post(live, world.member.key, query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "Syntax Error: Document contains more than 5000 tokens. Parsing aborted."
    )


def test_repeated_field_names_cannot_make_validation_quadratic(
    served: tuple[LiveServer, World],
) -> None:
    live, world = served
    query = "{ viewer { " + "id " * 200 + "} }"  # 19,900 pairs of the same name to compare
    response = _post(live, world.member.key, query)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        "query too complex to validate: more than 10000 comparisons of same-named "
        "fields, or nested too deeply"
    )


def test_fragments_doubling_at_each_level_are_refused_without_expanding_them(
    served: tuple[LiveServer, World],
) -> None:
    live, world = served
    # 2**40 fields once expanded: every walk over the fragments must stop early or memoize.
    chain = ["fragment F0 on User { id name }"]
    chain += [f"fragment F{i} on User {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, 41)]
    query = "query { viewer { ...F40 } } " + " ".join(chain)
    assert _error(_post(live, world.member.key, query))[:2] == (400, "QUERY_TOO_EXPENSIVE")


def test_the_document_cache_is_bounded_by_the_size_of_its_texts(
    served: tuple[LiveServer, World],
) -> None:
    live, world = served
    documents = _documents(live)

    def padded(index: int, size: int) -> str:
        head = f"# {index:04d} "
        return head + "x" * (size - len(head) - 18) + "\n{ viewer { id } }"

    assert len(padded(0, 16_000)) == 16_000
    for index in range(40):
        assert _post(live, world.member.key, padded(index, 16_000)).status_code == 200
    # 256 KiB hold 16 texts of 16,000 characters: the 24 oldest were evicted.
    assert documents.cached_chars == 16 * 16_000
    # A text over 32 KiB is answered, and never cached.
    assert _post(live, world.member.key, padded(99, 40_000)).status_code == 200
    assert documents.cached_chars == 16 * 16_000


BIG = (
    f'query {{ big: entity(name: "{TEAM}") {{ '
    "triggers(first: 1000) { edges { node { id } } } } }"
)
VIEWER = "{ viewer { username } }"
WAIT = 20.0  # bounds every wait below; nothing here measures speed


def _viewer_meanwhile(live: LiveServer, world: World, paused: threading.Event) -> str:
    """Start the big query, and once it is paused, another user's `viewer` query's answer."""
    answers: list[httpx.Response] = []
    big = threading.Thread(target=lambda: answers.append(_post(live, world.member.key, BIG)))
    big.start()
    try:
        assert paused.wait(WAIT), "the big query never reached the pause"
        viewer = httpx.post(
            f"{live.url}/graphql",
            json={"query": VIEWER},
            headers=basic(world.outsider.key),
            timeout=WAIT / 2,
        )
        username: str = viewer.json()["data"]["viewer"]["username"]
        return username
    finally:
        RELEASE.set()
        big.join(WAIT)
        assert answers[0].status_code == 200
        assert len(answers[0].json()["data"]["big"]["triggers"]["edges"]) == 0


RELEASE = threading.Event()


@pytest.fixture
def release() -> Iterator[threading.Event]:
    RELEASE.clear()
    yield RELEASE
    RELEASE.set()


def test_a_query_being_executed_holds_up_no_other_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release: threading.Event
) -> None:
    paused = threading.Event()
    original = queries.RESOLVERS["Entity"]["triggers"]

    def slow(*args: Any, **kwargs: Any) -> Any:
        answer = original(*args, **kwargs)
        paused.set()  # inside the big query's transaction, its answer half built
        release.wait(WAIT)
        return answer

    monkeypatch.setitem(queries.RESOLVERS["Entity"], "triggers", slow)
    with running(tmp_path / "server.db") as live:
        world = build_world(InProcess(live.app))
        assert _viewer_meanwhile(live, world, paused) == "olga"


def test_a_large_answer_being_encoded_holds_up_no_other_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release: threading.Event
) -> None:
    paused = threading.Event()
    original = json.JSONEncoder.encode
    original_key = service.encode_basestring

    def pause() -> None:
        paused.set()
        release.wait(WAIT)

    def slow(encoder: json.JSONEncoder, value: Any) -> str:
        # The big answer is built and its encoding has begun whole...
        if isinstance(value, dict) and "big" in (value.get("data") or {}):
            pause()
        return original(encoder, value)

    def slow_key(key: str) -> str:
        if key == "big":  # ...or in pieces, its first key written
            pause()
        return original_key(key)

    monkeypatch.setattr(json.JSONEncoder, "encode", slow)
    monkeypatch.setattr(service, "encode_basestring", slow_key)
    with running(tmp_path / "server.db") as live:
        world = build_world(InProcess(live.app))
        assert _viewer_meanwhile(live, world, paused) == "olga"

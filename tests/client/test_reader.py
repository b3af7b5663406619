"""The reader against misbehaving servers: it fails loudly, never reads "empty"."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconcile.apply import session
from reconcile.apply.target import Target, connect, scopes_of
from reconcile.client.reader import Reader
from reconcile.client.transport import RetryPolicy, Transport
from reconcile.core.errors import ServerError
from reconcile.core.model import Automation, Scope
from reconcile.inventory.load import load_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "automations" / "examples"


def _reader(answer: Any) -> Reader:
    """A reader whose server answers every request with `answer(query)`."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answer(json.loads(request.content)["query"]))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle), base_url="http://x")
    return Reader(Transport(client, RetryPolicy(scale=0.0)), entity_triggers=True)


def _page(name: str) -> dict[str, Any]:
    return {"pageInfo": {"endCursor": "same", "hasNextPage": True}, "edges": []}


def test_pages_that_never_advance_are_an_error_not_a_loop() -> None:
    def answer(query: str) -> dict[str, Any]:
        if "secrets" in query and "integrations" not in query:
            return {"data": {"entity": {"secrets": []}}}
        key = "integrations" if "integrations" in query else "triggers"
        return {"data": {"entity": {key: _page(key)}}}

    with pytest.raises(ServerError, match="pages for entity 'team' do not advance"):
        asyncio.run(_reader(answer).read(["team"], []))


def test_a_missing_entity_is_an_error_not_an_empty_state() -> None:
    # The embedded server, as W&B, answers null too for a team the user is not in.
    message = (
        "entity 'team' not found on the server, or the API key's user is not a member of it "
        "(on a server run by `reconcile serve`: `reconcile server --db DB create-team team`, "
        "then `reconcile server --db DB set-role team USER admin`)"
    )
    with pytest.raises(ServerError, match=f"^{re.escape(message)}$"):
        asyncio.run(_reader(lambda _: {"data": {"entity": None}}).read(["team"], []))


def test_graphql_errors_fail_the_read() -> None:
    def answer(_: str) -> dict[str, Any]:
        return {"data": None, "errors": [{"message": "permission denied"}]}

    with pytest.raises(ServerError, match="permission denied"):
        asyncio.run(_reader(answer).read(["team"], []))


def test_servers_without_entity_listings_are_read_per_project(tmp_path: Path) -> None:
    db = tmp_path / "server.db"
    inventory = load_inventory([str(EXAMPLES)])
    env = {s.from_env: "value" for s in inventory.secrets}
    env["SLACK_ML_MODELS_URL"] = "https://hooks.example.com/slack"
    _, report = asyncio.run(
        session.apply(inventory, Target(None, db=db), fingerprint=None, env=env)
    )
    assert report.ok

    async def both() -> tuple[Any, Any, bool]:
        async with connect(Target(None, db=db)) as transport:
            scopes = scopes_of(inventory)
            modern = Reader(transport)
            state, _ = await modern.read(inventory.entities, scopes)
            legacy_state, _ = await Reader(transport, entity_triggers=False).read(
                inventory.entities, scopes
            )
            return state, legacy_state, await modern.entity_triggers()

    state, legacy_state, detected = asyncio.run(both())
    assert detected is True  # the embedded server announces QUERY_AUTOMATIONS_ON_ENTITY
    assert len([r for r in state.resources if r.key.kind == "automation"]) == 16
    # Listed per project, a team-wide automation is in no project: such servers predate
    # W&B's entity scope, so there is none to miss there.
    team_wide = {r.key for r in state.resources if getattr(r.value, "scope", Scope("")).team}
    assert [key.name for key in team_wide] == ["alert-on-failed-training-run"]
    assert sorted(legacy_state.resources, key=lambda r: r.key) == sorted(
        (r for r in state.resources if r.key not in team_wide), key=lambda r: r.key
    )


def test_registry_automations_are_read_from_the_org_entity_under_their_webhooks_team(
    tmp_path: Path,
) -> None:
    from reconcile.apply.target import embedded_key
    from reconcile.client import operations as ops
    from reconcile.core.model import Automation
    from reconcile.server.admin import tasks as admin
    from reconcile.server.store.db import Database
    from tests.server.helpers import trigger_input

    target = Target(None, db=tmp_path / "server.db")
    embedded_key(target.db)
    db = Database(target.db)
    for team in ("alpha", "beta"):
        admin.ensure_team(db, team, organization="corp")
        admin.set_role(db, team, admin.DEFAULT_ADMIN, "admin")
    admin.ensure_registry(db, "alpha", "model")
    db.close()

    async def build_and_read(teams: list[str]) -> dict[str, tuple[str, str]]:
        async with connect(target) as transport:
            ids = await transport.execute(ops.ORG_INFO_FROM_ENTITY, {"entity": "beta"})
            assert ids["entity"]["organization"]["orgEntity"]["name"] == "corp-org"
            project = await transport.execute(
                ops.PROJECT, {"entity": "corp-org", "name": "wandb-registry-model"}
            )
            registry_id = project["project"]["id"]
            if teams == ["alpha", "beta"]:
                hook = {"entityName": "beta", "name": "b-hook", "urlEndpoint": "https://h.example/"}
                made = await transport.execute(ops.CREATE_WEBHOOK, {"input": hook})
                hook_id = made["createGenericWebhookIntegration"]["integration"]["id"]
                for name, integration in (("to-beta", hook_id), ("no-op", None)):
                    variables = trigger_input(registry_id, integration, name=name)
                    await transport.execute(ops.CREATE_TRIGGER, variables)
            state, lookup = await Reader(transport).read(teams, [])
        autos = [r.value for r in state.resources if isinstance(r.value, Automation)]
        assert {lookup.owners[a.key] for a in autos} == {"corp-org"}
        return {a.name: (a.entity, a.scope.project) for a in autos}

    both = asyncio.run(build_and_read(["alpha", "beta"]))
    assert both == {
        "to-beta": ("beta", "wandb-registry-model"),
        "no-op": ("alpha", "wandb-registry-model"),
    }
    # Read for alpha alone, the automation calling beta's webhook is beta's, not shown.
    assert asyncio.run(build_and_read(["alpha"])) == {"no-op": ("alpha", "wandb-registry-model")}


def _applied_examples(db: Path) -> Any:
    inventory = load_inventory([str(EXAMPLES)])
    env = {s.from_env: "value" for s in inventory.secrets}
    env["SLACK_ML_MODELS_URL"] = "https://hooks.example.com/slack"
    _, report = asyncio.run(
        session.apply(inventory, Target(None, db=db), fingerprint=None, env=env)
    )
    assert report.ok
    return inventory


def _read_noting_trigger_pages(
    db: Path, inventory: Any, disabled: frozenset[str]
) -> tuple[list[int], Any]:
    """The state read from a server with `disabled` features, and the page size of each
    request for an entity's triggers."""
    from reconcile.apply.target import embedded_key
    from reconcile.client.transport import basic_auth
    from reconcile.server.app import create_app

    asked: list[int] = []

    async def note(request: httpx.Request) -> None:
        body = json.loads(request.content)
        if "triggers(" in body["query"]:
            asked.append(body["variables"]["perPage"])

    async def read() -> Any:
        app = create_app(db, disabled=disabled)
        headers = {"Authorization": basic_auth(embedded_key(db))}
        transport = httpx.ASGITransport(app=app)
        hooks = {"request": [note]}
        try:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://e", headers=headers, event_hooks=hooks
            ) as client:
                state, _ = await Reader(Transport(client)).read(
                    inventory.entities, scopes_of(inventory)
                )
                return state
        finally:
            app.state.service.close()

    return asked, asyncio.run(read())


def test_a_server_that_says_it_answers_large_pages_is_read_in_pages_of_1000(
    tmp_path: Path,
) -> None:
    from reconcile.core import features

    db = tmp_path / "server.db"
    inventory = _applied_examples(db)
    large, state = _read_noting_trigger_pages(db, inventory, frozenset())
    # W&B does not list the feature: it is read in pages of 100, as before.
    small, same = _read_noting_trigger_pages(db, inventory, frozenset({features.LARGE_PAGES}))
    # One listing for the team, one for its organization's registries.
    assert (large, small) == ([1000, 1000], [100, 100])
    assert len([r for r in state.resources if r.key.kind == "automation"]) == 16
    assert sorted(state.resources, key=lambda r: r.key) == sorted(
        same.resources, key=lambda r: r.key
    )


def _node(name: str, alias: str | list[str], payload: str | None) -> dict[str, Any]:
    test = {"$in": alias} if isinstance(alias, list) else {"$regex": alias}
    condition = {"$or": [{"$and": [{"alias": test}]}]}
    return {
        "id": f"id-{name}",
        "name": name,
        "enabled": True,
        "scope": {"__typename": "Project", "id": "p1", "name": "bench"},
        "event": {"eventType": "ADD_ARTIFACT_ALIAS", "filter": json.dumps(condition)},
        "action": {
            "__typename": "GenericWebhookTriggeredAction",
            "integration": {"id": "h1", "name": "hook"},
            "requestPayload": payload,
        },
    }


def test_equal_filters_are_decoded_once_and_each_automation_gets_its_own_copy() -> None:
    import yaml

    from reconcile.client.reader import _decoded_event, _trigger
    from reconcile.core.wire import decode_action, decode_event

    shared = '{"event": "${event_type}"}'
    nodes = [
        _node("a", ["prod", "staging"], shared),
        _node("b", ["prod", "staging"], shared),
        _node("c", "^staging$", None),
    ]
    _decoded_event.cache_clear()
    first, second, other = (_trigger("team", node, {}) for node in nodes)
    assert _decoded_event.cache_info().hits == 1  # b's filter is a's
    assert isinstance(first.value, Automation)
    assert isinstance(second.value, Automation)
    raw = nodes[0]
    assert first.value.event == decode_event("ADD_ARTIFACT_ALIAS", raw["event"]["filter"])
    assert second.value.event == first.value.event
    assert second.value.event.params is not first.value.event.params
    assert first.value.action == decode_action(raw["action"])
    assert first.value.action.params == {"to": "hook", "payload": {"event": "${event_type}"}}
    # Nothing shared: YAML written from both shows no anchor.
    assert first.value.event.params == {"alias": {"one_of": ["prod", "staging"]}}
    assert "&id" not in yaml.safe_dump([first.value.event.params, second.value.event.params])
    assert isinstance(other.value, Automation)
    assert other.value.event.params == {"alias": "^staging$"}
    assert other.value.action.params == {"to": "hook", "payload": None}

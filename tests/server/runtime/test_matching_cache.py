"""Decoded automations are cached for matching, and a write is seen at once."""

from __future__ import annotations

import json

import pytest

from reconcile.server.runtime import matching
from reconcile.server.store import automations
from tests.server.helpers import World, trigger_input, webhook
from tests.server.runtime.support import alias_event, emit

CREATE = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""
UPDATE = """mutation ($input: UpdateFilterTriggerInput!) {
  updateFilterTrigger(input: $input) { trigger { id } } }"""


def _alias(pattern: str) -> str:
    return json.dumps({"$or": [{"$and": [{"alias": {"$regex": pattern}}]}]})


def _fired(world: World, event_id: str, alias: str) -> list[str]:
    answer = emit(world, alias_event(event_id, alias=alias))
    assert answer.status_code == 202, answer.text
    names: list[str] = answer.json()["events"][0]["automations"]
    return names


def test_an_update_in_the_same_second_is_matched_at_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stored `updated_at` does not move (whole seconds): the cache must still see it.
    monkeypatch.setattr(automations, "now", lambda: "2026-01-01T00:00:00Z")
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    made = trigger_input(world.project_id, hook, eventFilter=_alias("^prod$"))
    trigger_id = world.admin.ok(CREATE, made)["createFilterTrigger"]["trigger"]["id"]
    assert _fired(world, "e1", "prod") == ["promote"]

    world.admin.ok(UPDATE, {"input": {"id": trigger_id, "eventFilter": _alias("^staging$")}})
    assert _fired(world, "e2", "prod") == []
    assert _fired(world, "e3", "staging") == ["promote"]

    world.admin.ok(UPDATE, {"input": {"id": trigger_id, "name": "promote-staging"}})
    assert _fired(world, "e4", "staging") == ["promote-staging"]

    world.admin.ok(UPDATE, {"input": {"id": trigger_id, "enabled": False}})
    assert _fired(world, "e5", "staging") == []


def test_each_stored_automation_is_decoded_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = matching.automation_of

    def counted(row: automations.TriggerRow, entity: str) -> object:
        calls.append(row.id)
        return original(row, entity)

    monkeypatch.setattr(matching, "automation_of", counted)
    monkeypatch.setattr(matching, "_DECODED", {})
    hook = webhook(world.admin, "deploy", urlEndpoint="http://127.0.0.1:9/")
    for name in ("first", "second", "third"):
        world.admin.ok(CREATE, trigger_input(world.project_id, hook, name=name))
    for number in range(4):
        assert _fired(world, f"e{number}", "prod") == ["first", "second", "third"]
    assert len(calls) == 3
    assert len(set(calls)) == 3

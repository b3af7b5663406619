"""The inventory's model: resources and their keys."""

from __future__ import annotations

import pickle
from dataclasses import replace

from reconcile.core.model import (
    Action,
    Automation,
    Event,
    ResourceKey,
    Scope,
    Secret,
    Webhook,
)


def _automation(name: str = "a") -> Automation:
    return Automation("team", name, Scope("p"), Event("alias_added"), Action("no_op"))


def test_each_resource_builds_its_key_once() -> None:
    for resource, kind in (
        (Secret("team", "a", "A"), "secret"),
        (Webhook("team", "a", "https://h.example/"), "webhook"),
        (_automation(), "automation"),
    ):
        assert resource.key == ResourceKey(kind, "team", "a")  # type: ignore[arg-type]
        assert resource.key is resource.key


def test_a_cached_key_changes_nothing_else_of_the_resource() -> None:
    auto = _automation()
    fresh = _automation()
    assert auto.key == fresh.key
    assert auto == fresh
    assert repr(auto) == repr(fresh)
    renamed = replace(auto, name="b")
    assert renamed.key == ResourceKey("automation", "team", "b")
    assert pickle.loads(pickle.dumps(auto)) == auto
    assert pickle.loads(pickle.dumps(auto)).key == auto.key

"""Every filter form, end to end: made with the official SDK against a live server,
an event posted to `/api/v1/events`, the delivery seen at a loopback receiver (or its
absence after the worker drained).

One server, one receiver and one drain for the module; each case is one automation
with its own name in its payload, and the events that must and must not fire it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import wandb
from wandb.automations import (
    ArtifactEvent,
    OnAddArtifactAlias,
    OnAddArtifactTag,
    OnLinkArtifact,
    OnRunMetric,
    OnRunState,
    RunEvent,
    SendWebhook,
)

from tests.server.helpers import TEAM, InProcess, basic, build_world, sdk_environment, webhook
from tests.server.live import running
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import drain

A, R = ArtifactEvent, RunEvent
Made = Callable[[Any], Any]  # the SDK's project -> the SDK's event


@dataclass(frozen=True)
class Case:
    make: Made
    fires: tuple[dict[str, Any], ...]
    quiet: tuple[dict[str, Any], ...]


def _artifact(kind: str, **extra: Any) -> dict[str, Any]:
    event = {"type": kind, "entity": TEAM, "project": "vision", "collection": "detector"}
    return {**event, "artifact": {"type": "model", "version": 1}, **extra}


def _alias(alias: str) -> dict[str, Any]:
    return _artifact("alias_added", alias=alias)


def _run(kind: str, name: str, **extra: Any) -> dict[str, Any]:
    run = {"id": f"run-{name}", "name": name}
    return {"type": kind, "entity": TEAM, "project": "vision", "run": run, **extra}


CASES: dict[str, Case] = {
    "alias-eq": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter=A.alias.eq("prod")),
        (_alias("prod"),),
        (_alias("preprod"), _alias("prod-2")),
    ),
    "alias-seed-form": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter={"alias": "prod"}),
        (_alias("prod"),),
        (_alias("Prod"),),
    ),
    "alias-regex-search": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter=A.alias.matches_regex("prod")),
        (_alias("preprod"), _alias("prod")),
        (_alias("dev"),),
    ),
    "alias-contains": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter=A.alias.contains("rod")),
        (_alias("production"),),
        (_alias("dev"),),
    ),
    "alias-in": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter=A.alias.in_(["prod", "staging"])),
        (_alias("staging"),),
        (_alias("dev"),),
    ),
    "alias-ne": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter=A.alias.ne("prod")),
        (_alias("dev"),),
        (_alias("prod"),),
    ),
    "alias-nin": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter=A.alias.not_in(["prod", "dev"])),
        (_alias("qa"),),
        (_alias("dev"),),
    ),
    "alias-or": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter=A.alias.eq("a1") | A.alias.eq("b1")),
        (_alias("b1"),),
        (_alias("c1"),),
    ),
    "alias-not": Case(
        lambda p: OnAddArtifactAlias(scope=p, filter=~A.alias.matches_regex("^pr")),
        (_alias("dev"),),
        (_alias("preprod"),),
    ),
    "link-without-alias": Case(
        lambda p: OnLinkArtifact(scope=p, filter=A.alias.exists(False)),
        (_artifact("artifact_linked"),),
        (_artifact("artifact_linked", alias="prod"),),
    ),
    "tag-eq": Case(
        lambda p: OnAddArtifactTag(scope=p, filter=A.tag.eq("gold")),
        (_artifact("tag_added", tag="gold"),),
        (_artifact("tag_added", tag="golden"), _artifact("tag_added", tag="not-gold")),
    ),
    "tag-regex": Case(
        lambda p: OnAddArtifactTag(scope=p, filter=A.tag.matches_regex("^gold-[0-9]+$")),
        (_artifact("tag_added", tag="gold-12"),),
        (_artifact("tag_added", tag="gold-x"),),
    ),
    "state-and-names": Case(
        lambda p: OnRunState(
            scope=p,
            filter=R.state.eq("failed") & (R.name.contains("sweep") | R.name.eq("base")),
        ),
        (_run("run_state", "base", state="crashed"), _run("run_state", "sweep-3", state="failed")),
        (_run("run_state", "other", state="failed"), _run("run_state", "base", state="finished")),
    ),
    "metric-not-name": Case(
        # The SDK infers `event_type` from the filter; its type hints do not say so.
        lambda p: OnRunMetric(  # type: ignore[call-arg]
            scope=p, filter=(R.metric("loss") > 1) & ~R.name.contains("tmp")
        ),
        (_run("run_logged", "main", metrics={"loss": 2}),),
        (_run("run_logged", "tmp-1", metrics={"loss": 2}),),
    ),
}


@dataclass(frozen=True)
class Outcome:
    fired: dict[str, list[str]]  # event id -> automations the answer named
    delivered: Counter[str]  # automation -> deliveries the receiver saw


def _sdk_env(monkeypatch: pytest.MonkeyPatch, url: str, key: str, home: Path) -> None:
    for name, value in sdk_environment(url, key, home).items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    root = tmp_path_factory.mktemp("sdk-filters")
    with (
        running(root / "server.db") as live,
        Receiver() as receiver,
        pytest.MonkeyPatch.context() as env,
    ):
        world = build_world(InProcess(live.app))
        webhook(world.admin, "sink", urlEndpoint=receiver.url("/ok"))
        _sdk_env(env, live.url, world.admin.key, root / "home")
        api = wandb.Api()
        project = api.project("vision", entity=TEAM)
        hook = next(h for h in api.webhook_integrations(entity=TEAM) if h.name == "sink")
        for name, case in CASES.items():
            action = SendWebhook.from_integration(hook, payload={"automation": name})
            api.create_automation(case.make(project) >> action, name=name)
        wandb.teardown()
        fired = _post_all(live.url, world.admin.key)
        assert drain(world) == 0
        delivered = Counter(json.loads(r.body)["automation"] for r in receiver.requests)
        yield Outcome(fired, delivered)


def _post_all(url: str, key: str) -> dict[str, list[str]]:
    events = [
        {**event, "id": f"{name}-{kind}-{index}"}
        for name, case in CASES.items()
        for kind, listed in (("fires", case.fires), ("quiet", case.quiet))
        for index, event in enumerate(listed)
    ]
    answer = httpx.post(f"{url}/api/v1/events", json={"events": events}, headers=basic(key))
    assert answer.status_code == 202, answer.text
    return {one["id"]: one["automations"] for one in answer.json()["events"]}


@pytest.mark.parametrize("name", list(CASES))
def test_each_filter_form_fires_exactly_when_it_matches(outcome: Outcome, name: str) -> None:
    case = CASES[name]
    for kind, listed, expected in (("fires", case.fires, True), ("quiet", case.quiet, False)):
        for index in range(len(listed)):
            event_id = f"{name}-{kind}-{index}"
            assert (name in outcome.fired[event_id]) is expected, event_id
    # Other cases' events may fire it too (all go to one project): the receiver saw one
    # delivery per event whose answer named it, and none for the others.
    named = sum(name in automations for automations in outcome.fired.values())
    assert named >= len(case.fires)
    assert outcome.delivered[name] == named

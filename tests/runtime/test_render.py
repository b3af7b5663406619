"""Rendering: variable values, S4 (event data never changes the JSON), masking, Slack."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from reconcile import build
from reconcile.events import EVENTS
from reconcile.model import Action, Automation, Event, Scope, Webhook
from reconcile.runtime import variables
from reconcile.runtime.incoming import Artifact, IncomingEvent, Run
from reconcile.runtime.render import RenderError, mask_text, render
from reconcile.runtime.samples import sample_event
from reconcile.runtime.variables import Facts

HOOK = Webhook("ml", "deploy", "https://x.example/h", access_token="TOK", secret="SIGNING_KEY")
SECRETS = {"TOK": "tok-value-1234", "SIGNING_KEY": "key-value-5678"}
HOSTILE = 'a"b\\c}${entity_name}\n\t\u0000\u2028</script>{"x":1}'


def automation(
    kind: str, params: dict[str, Any], payload: Any, scope: Scope | None = None
) -> Automation:
    event = build.event({kind: params})
    action = Action("webhook", {"to": "deploy", "payload": payload})
    return Automation("ml", "auto", scope or Scope("wandb-registry-model", "fraud"), event, action)


ALIAS_EVENT = IncomingEvent(
    "alias_added",
    "ml",
    "wandb-registry-model",
    registry="model",
    collection="fraud",
    artifact=Artifact(3, "model", MappingProxyType({"acc": 0.96, "tags": ["a", "b"], "s": "x"})),
    alias="production",
    author="ann",
)
RUN_EVENT = IncomingEvent(
    "run_logged",
    "ml",
    "p",
    run=Run("1x2y", "sweep-7"),
    metrics=MappingProxyType({"val_loss": 0.04, "epoch": 3}),
)


def body(auto: Automation, event: IncomingEvent, **facts: Any) -> Any:
    rendered = render(Facts(auto, event, **facts), HOOK, SECRETS)
    assert rendered is not None
    return json.loads(rendered.body)


def test_artifact_variables() -> None:
    names = [
        "project_name",
        "entity_name",
        "event_type",
        "event_author",
        "artifact_version",
        "artifact_version_string",
        "artifact_collection_name",
        "alias",
        "artifact_metadata.acc",
        "artifact_metadata.tags",
        "artifact_metadata.s",
        "artifact_metadata.missing",
    ]
    auto = automation("alias_added", {"alias": "^production$"}, {n: f"${{{n}}}" for n in names})
    got = body(auto, ALIAS_EVENT, artifact_id=42)
    assert got == {
        "project_name": "wandb-registry-model",
        "entity_name": "ml",
        "event_type": "ADD_ARTIFACT_ALIAS",
        "event_author": "ann",
        "artifact_version": "wandb-artifact://_id/" + base64.b64encode(b"Artifact:42").decode(),
        "artifact_version_string": "ml/wandb-registry-model/fraud:v3",
        "artifact_collection_name": "fraud",
        "alias": "production",
        "artifact_metadata.acc": "0.96",
        "artifact_metadata.tags": '["a","b"]',
        "artifact_metadata.s": "x",
        "artifact_metadata.missing": "",
    }


def test_link_renders_as_link_artifact_and_run_variables() -> None:
    link = automation("artifact_linked", {}, {"t": "${event_type}"})
    assert body(link, replace(ALIAS_EVENT, type="artifact_linked")) == {"t": "LINK_ARTIFACT"}
    names = ["run_id", "run_name", "run_url", "metric_name", "metric_value", "event_type"]
    auto = automation(
        "run_metric",
        {"metric": "val_loss", "below": 0.05},
        {n: f"${{{n}}}" for n in names},
        Scope("p"),
    )
    assert body(auto, RUN_EVENT) == {
        "run_id": "1x2y",
        "run_name": "sweep-7",
        "run_url": "https://wandb.ai/ml/p/runs/1x2y",
        "metric_name": "val_loss",
        "metric_value": "0.04",
        "event_type": "RUN_METRIC",
    }
    # The value that made an aggregate fire, when the worker gives it; whole numbers without .0.
    assert body(auto, RUN_EVENT, metric=("val_loss", 2.0))["metric_value"] == "2"


def test_a_string_that_is_exactly_one_numeric_variable_stays_a_string() -> None:
    auto = automation(
        "run_metric", {"metric": "epoch", "above": 2}, {"v": "${metric_value}", "n": 7}, Scope("p")
    )
    assert body(auto, RUN_EVENT) == {"v": "3", "n": 7}


@pytest.mark.parametrize("field", ["alias", "author", "collection", "metadata", "run_name"])
def test_s4_event_data_never_adds_keys_or_breaks_the_json(field: str) -> None:
    payload = {
        "a": "${alias}",
        "who": "${event_author}",
        "c": "<${artifact_collection_name}>",
        "m": "${artifact_metadata.k}",
        "list": ["${alias}", 1, None, True],
    }
    event = ALIAS_EVENT
    if field == "metadata":
        event = replace(event, artifact=Artifact(3, "model", MappingProxyType({"k": HOSTILE})))
    elif field != "run_name":
        event = replace(event, **{field: HOSTILE})
    auto = automation("alias_added", {}, payload)
    rendered = render(Facts(auto, event), HOOK, SECRETS)
    assert rendered is not None
    got = json.loads(rendered.body)
    assert list(got) == ["a", "who", "c", "m", "list"]
    assert got["list"][1:] == [1, None, True]
    expected = {
        "alias": got["a"],
        "author": got["who"],
        "collection": got["c"][1:-1],
        "metadata": got["m"],
        "run_name": None,
    }[field]
    if expected is not None:
        assert expected == HOSTILE  # the value arrives intact, `${...}` inside it not expanded


def test_s4_run_names_with_json_syntax_stay_inside_their_string() -> None:
    auto = automation("run_state", {"states": ["failed"]}, {"r": "${run_name}"}, Scope("p"))
    event = IncomingEvent("run_state", "ml", "p", run=Run("i", HOSTILE), state="failed")
    rendered = render(Facts(auto, event), HOOK, SECRETS)
    assert rendered is not None
    assert json.loads(rendered.body) == {"r": HOSTILE}
    assert b"\n" not in rendered.body  # control characters are escaped, not raw


def test_secrets_are_sent_but_masked_in_what_is_shown() -> None:
    payload = {"auth": "Bearer ${ACCESS_TOKEN}", "key": "${SIGNING_KEY}", "echo": "${alias}"}
    auto = automation("alias_added", {}, payload)
    leaking = replace(ALIAS_EVENT, alias="tok-value-1234")  # event data that holds a secret
    rendered = render(Facts(auto, leaking), HOOK, SECRETS)
    assert rendered is not None
    assert json.loads(rendered.body) == {
        "auth": "Bearer tok-value-1234",
        "key": "key-value-5678",
        "echo": "tok-value-1234",
    }
    assert json.loads(rendered.shown) == {"auth": "Bearer ***", "key": "***", "echo": "***"}
    offline = render(Facts(auto, ALIAS_EVENT), HOOK)
    assert offline is not None
    assert offline.body == offline.shown == b'{"auth":"Bearer ***","key":"***","echo":"production"}'


def test_mask_text_for_answers_that_echo_a_secret() -> None:
    echoed = 'bad token "tok-value-1234"; key=key-value-5678; abc'
    assert mask_text(echoed, [*SECRETS.values(), "abc"]) == 'bad token "***"; key=***; abc'


def test_missing_secret_value_is_a_clear_error() -> None:
    auto = automation("alias_added", {}, {"k": "${SIGNING_KEY}"})
    with pytest.raises(RenderError, match="needs the value of secret 'SIGNING_KEY'"):
        render(Facts(auto, ALIAS_EVENT), HOOK, {"TOK": "x"})


def test_unknown_variable_is_refused_not_left_in_place() -> None:
    auto = automation("alias_added", {}, {"k": "${run_name}"})
    with pytest.raises(RenderError, match=r"\$\{run_name\} has no value for alias_added events"):
        render(Facts(auto, ALIAS_EVENT), HOOK, SECRETS)


def test_every_variable_validate_accepts_has_a_value_for_every_event_kind() -> None:
    for kind, spec in EVENTS.items():
        params: dict[str, Any] = {"states": ["failed"]} if kind == "run_state" else {}
        if kind.startswith("run_metric"):
            params = (
                {"metric": "val_loss", "above": 1}
                if kind == "run_metric"
                else {"metric": "val_loss", "amount": 1, "direction": "any"}
            )
        scope = Scope("wandb-registry-model", "c") if spec.artifact else Scope("p")
        auto = automation(
            kind, params, {name: f"${{{name}}}" for name in sorted(spec.variables)}, scope
        )
        got = body(auto, sample_event(auto))
        assert sorted(got) == sorted(spec.variables)
        assert got["event_type"] == variables.event_type(auto)


def test_no_payload_sends_an_empty_object_and_no_op_sends_nothing() -> None:
    auto = automation("alias_added", {}, None)
    assert body(auto, ALIAS_EVENT) == {}
    noop = replace(auto, action=Action("no_op", {}))
    assert render(Facts(noop, ALIAS_EVENT), None) is None


def test_slack_body_from_title_message_and_severity() -> None:
    action = build.action(
        {
            "slack": {
                "channel": "#ml",
                "title": "Run <failed>",
                "message": "see *logs* & fix",
                "severity": "warn",
            }
        }
    )
    auto = Automation("ml", "a", Scope("p"), Event("run_state", {"states": ["failed"]}), action)
    event = IncomingEvent("run_state", "ml", "p", run=Run("r1", "train-3"), state="failed")
    rendered = render(Facts(auto, event), None)
    assert rendered is not None
    assert json.loads(rendered.body) == {
        "text": ":warning: Run &lt;failed&gt;: see *logs* &amp; fix",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": ":warning: Run <failed>", "emoji": True},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "see *logs* &amp; fix"}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "*WARN* · RUN_STATE · run train-3 (r1) in ml/p"}
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("kind", "params", "alias", "tag"),
    [
        ("alias_added", {"alias": {"equals": "prêt"}}, "prêt", None),
        ("artifact_unlinked", {"alias": "^staging$"}, "staging", None),
        ("tag_added", {"tag": "^gold"}, None, "^gold"),  # a bare tag is exact
        ("tag_removed", {"tag": {"matches": "^silver$"}}, None, "silver"),
        ("collection_tag_added", {"tag": {"one_of": ["review", "audit"]}}, None, "review"),
        ("collection_tag_removed", {"tag": {"contains": "old"}}, None, "old"),
        ("tag_added", {"tag": {"matches": "^gold", "not_equals": "gold-x"}}, None, "gold"),
        ("alias_added", {"alias": {"any": [{"one_of": ["canary"]}, "^prod$"]}}, "canary", None),
        ("alias_added", {"alias": {"all": [{"not": "^tmp"}, {"equals": "v2"}]}}, "v2", None),
        ("alias_added", {"alias": {"not_any": ["^tmp"]}}, "production", None),
    ],
)
def test_a_sample_event_passes_the_automations_alias_or_tag_test(
    kind: str, params: dict[str, Any], alias: str | None, tag: str | None
) -> None:
    event = sample_event(automation(kind, params, None))
    assert (event.type, event.alias, event.tag) == (kind, alias, tag)
    assert (event.artifact is None) == kind.startswith("collection_tag")

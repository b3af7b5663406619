"""Events and actions survive the trip to W&B's wire shapes and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconcile.events import EVENTS
from reconcile.inventory import load_inventory
from reconcile.model import Action, Event
from reconcile.wire import decode_action, decode_event, encode_action, encode_event

EXAMPLES = Path(__file__).resolve().parents[1] / "automations" / "examples"
AUTOMATIONS = load_inventory([str(EXAMPLES)]).automations


@pytest.mark.parametrize("auto", AUTOMATIONS, ids=[a.name for a in AUTOMATIONS])
def test_every_example_event_round_trips_through_the_read_back_shape(auto) -> None:  # type: ignore[no-untyped-def]
    wire_type, wire_filter = encode_event(auto.event)
    sent = json.dumps(wire_filter)  # eventFilter is a JSON string on the wire
    read_back = {"filter": json.loads(sent)} if "$or" in wire_filter else json.loads(sent)
    assert decode_event(wire_type, json.dumps(read_back)) == auto.event


def test_alias_filter_matches_the_documented_wire_shape() -> None:
    wire_type, wire_filter = encode_event(Event("alias_added", {"alias": "^production$"}))
    assert wire_type == "ADD_ARTIFACT_ALIAS"
    assert wire_filter == {"$or": [{"$and": [{"alias": {"$regex": "^production$"}}]}]}


def test_threshold_filter_matches_the_documented_wire_shape() -> None:
    event = Event(
        "run_metric",
        {"metric": "loss", "above": 0.5, "aggregate": "average", "window": 5, "run_name": None},
    )
    assert encode_event(event) == (
        "RUN_METRIC",
        {
            "run_filter": '{"$and":[]}',
            "run_metric_filter": {
                "threshold_filter": {
                    "name": "loss",
                    "agg_op": "AVERAGE",
                    "window_size": 5,
                    "cmp_op": "$gt",
                    "threshold": 0.5,
                }
            },
            "metric_filter": None,
        },
    )


def _wrapped(*conditions: dict[str, object]) -> str:
    """An artifact filter as the server returns it: `{"filter": {"$or": [{"$and": ...}]}}`."""
    return json.dumps({"filter": {"$or": [{"$and": list(conditions)}]}})


# Every test the SDK's FilterableField writes for `alias` and `tag` that the inventory
# expresses: (event kind, wire condition, inventory value).
EXPRESSED = [
    ("alias_added", {"alias": {"$regex": "^prod$"}}, "^prod$"),
    ("alias_added", {"alias": {"$eq": "prod.v1"}}, {"equals": "prod.v1"}),
    ("alias_added", {"alias": {"$contains": "prod"}}, {"contains": "prod"}),
    ("alias_added", {"alias": {"$in": ["prod", "staging"]}}, {"one_of": ["prod", "staging"]}),
    ("artifact_unlinked", {"alias": {"$eq": "production"}}, {"equals": "production"}),
    ("tag_added", {"tag": {"$eq": "gold"}}, "gold"),
    ("tag_added", {"tag": {"$regex": "^gold"}}, {"matches": "^gold"}),
    ("tag_added", {"tag": {"$contains": "old"}}, {"contains": "old"}),
    ("tag_added", {"tag": {"$in": ["gold", "silver"]}}, {"one_of": ["gold", "silver"]}),
    ("tag_removed", {"tag": {"$regex": "é$"}}, {"matches": "é$"}),
    ("collection_tag_added", {"tag": {"$eq": "needs-review"}}, "needs-review"),
    ("collection_tag_removed", {"tag": {"$in": ["a"]}}, {"one_of": ["a"]}),
]


@pytest.mark.parametrize(("kind", "condition", "value"), EXPRESSED)
def test_every_expressible_alias_and_tag_operator_round_trips(
    kind: str, condition: dict[str, object], value: object
) -> None:
    (field,) = EVENTS[kind].fields
    event = decode_event(EVENTS[kind].wire, _wrapped(condition))
    assert event == Event(kind, {field: value})
    assert encode_event(event) == (EVENTS[kind].wire, {"$or": [{"$and": [condition]}]})


FORMS = " (alias and tag take equals, matches, contains or one_of)"
# What the SDK can write for alias and tag that the inventory does not express.
NOT_EXPRESSED = [
    ({"alias": {"$ne": "prod"}}, "the alias operator $ne has no inventory form" + FORMS),
    ({"alias": {"$nin": ["prod"]}}, "the alias operator $nin has no inventory form" + FORMS),
    ({"alias": {"$exists": True}}, "the alias operator $exists has no inventory form" + FORMS),
    ({"alias": {"$gt": "a"}}, "the alias operator $gt has no inventory form" + FORMS),
    ({"alias": {"$gte": "a"}}, "the alias operator $gte has no inventory form" + FORMS),
    ({"alias": {"$lt": "a"}}, "the alias operator $lt has no inventory form" + FORMS),
    ({"alias": {"$lte": "a"}}, "the alias operator $lte has no inventory form" + FORMS),
    ({"alias": {"$eq": ["a", "b"]}}, 'alias $eq compares with ["a","b"], not with a name'),
    ({"alias": {"$in": []}}, "alias $in needs a non-empty list, not []"),
    ({"alias": {"$in": [1]}}, "alias $in lists something other than names"),
    ({"$not": {"alias": {"$eq": "a"}}}, "the combination $not"),
    ({"$nor": [{"alias": {"$eq": "a"}}]}, "the combination $nor"),
    ({"$or": [{"alias": {"$eq": "a"}}, {"alias": {"$eq": "b"}}]}, "2 alternatives ($or)"),
    ({"tag": {"$eq": "gold"}}, "alias_added events are not filtered on 'tag' in the inventory"),
]


@pytest.mark.parametrize(("condition", "reason"), NOT_EXPRESSED)
def test_alias_operators_the_inventory_lacks_are_unsupported_with_a_reason(
    condition: dict[str, object], reason: str
) -> None:
    raw = _wrapped(condition)
    if "$or" in condition:  # the SDK's `|` replaces the outer alternatives
        raw = json.dumps({"filter": condition})
    event = decode_event("ADD_ARTIFACT_ALIAS", raw)
    assert event.kind == "unsupported:ADD_ARTIFACT_ALIAS"
    assert event.params["reason"] == reason


def test_two_tests_of_one_field_are_unsupported() -> None:
    raw = _wrapped({"tag": {"$eq": "a"}}, {"tag": {"$regex": "b"}})
    event = decode_event("ADD_ARTIFACT_TAG", raw)
    assert (event.kind, event.params["reason"]) == (
        "unsupported:ADD_ARTIFACT_TAG",
        "more than one test of tag",
    )


def test_a_server_change_of_operator_is_a_different_event() -> None:
    exact = decode_event("ADD_ARTIFACT_TAG", _wrapped({"tag": {"$eq": "^gold"}}))
    regex = decode_event("ADD_ARTIFACT_TAG", _wrapped({"tag": {"$regex": "^gold"}}))
    assert exact.params == {"tag": "^gold"}
    assert regex.params == {"tag": {"matches": "^gold"}}
    assert exact != regex


def test_payload_and_filters_are_written_in_utf8() -> None:
    action = Action("webhook", {"to": "hook", "payload": {"text": "modèle ${tag}"}})
    config = encode_action(action, "INT-1")[1]["genericWebhookActionInput"]
    assert config["requestPayload"] == '{"text":"modèle ${tag}"}'
    event = Event("run_state", {"states": ["failed"], "run_name": {"equals": "entraîné"}})
    assert encode_event(event)[1]["run_filter"] == '{"$and":[{"display_name":{"$eq":"entraîné"}}]}'


@pytest.mark.parametrize(
    ("wire_type", "raw"),
    [
        ("UPDATE_ARTIFACT_ALIAS", {}),
        ("ADD_ARTIFACT_ALIAS", {"filter": {"$or": [{"$and": [{"version": {"$gt": 1}}]}]}}),
        ("RUN_METRIC", {"run_filter": "{}", "run_metric_filter": {"weird": {}}}),
    ],
)
def test_unrepresentable_events_are_marked_unsupported(
    wire_type: str, raw: dict[str, object]
) -> None:
    assert decode_event(wire_type, json.dumps(raw)).kind == f"unsupported:{wire_type}"


def test_webhook_action_round_trips_with_its_payload() -> None:
    action = Action("webhook", {"to": "hook", "payload": {"a": "${event_type}", "n": [1, 2]}})
    wire_type, config = encode_action(action, "INT-1")
    assert wire_type == "GENERIC_WEBHOOK"
    assert config["genericWebhookActionInput"]["integrationID"] == "INT-1"
    read = {
        "__typename": "GenericWebhookTriggeredAction",
        "integration": {"__typename": "GenericWebhookIntegration", "id": "INT-1", "name": "hook"},
        "requestPayload": config["genericWebhookActionInput"]["requestPayload"],
    }
    assert decode_action(read) == action


def test_slack_and_no_op_actions_round_trip() -> None:
    slack = Action("slack", {"channel": "#ml", "title": "T", "message": "", "severity": "warn"})
    _, config = encode_action(slack, "S-1")
    raw = {**config["notificationActionInput"], "__typename": "NotificationTriggeredAction"}
    raw["integration"] = {"__typename": "SlackIntegration", "channelName": "#ml"}
    assert decode_action(raw) == slack
    assert encode_action(Action("no_op", {}), None) == (
        "NO_OP",
        {"noOpActionInput": {"noOp": True}},
    )
    assert decode_action({"__typename": "NoOpTriggeredAction", "noOp": True}) == Action("no_op", {})

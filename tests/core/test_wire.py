"""Events and actions survive the trip to W&B's wire shapes and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconcile.core.events import EVENTS
from reconcile.core.model import Action, Event
from reconcile.core.wire import decode_action, decode_event, encode_action, encode_event
from reconcile.inventory.load import load_inventory

EXAMPLES = Path(__file__).resolve().parents[2] / "automations" / "examples"
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


# What a server may hold that the inventory does not express, and the reason given.
NOT_EXPRESSED = [
    ({"alias": {"$all": ["a"]}}, "the operator $all: W&B's automation filters have no $all"),
    ({"alias": {"$size": 1}}, "the operator $size: W&B's automation filters have no $size"),
    ({"alias": {"$near": 1}}, "the operator $near, which W&B's filter language does not have"),
    ({"alias": {"$eq": None}}, "$eq with the operand null"),
    ({"alias": {"$in": "prod"}}, '$in with the operand "prod"'),
    ({"alias": {"$in": [["a"]]}}, '$in with the operand [["a"]]'),
    ({"alias": {"$regex": 1}}, "$regex with the operand 1"),
    ({"alias": {"$exists": 1}}, "$exists with the operand 1"),
    ({"alias": {"$gt": ["a"]}}, '$gt with the operand ["a"]'),
    ({"alias": {}}, "the empty test {} of alias"),
    ({"alias": None}, "$eq with the operand null"),
    ({"$nor": []}, "$nor needs a non-empty list of conditions, not []"),
    ({"$or": {"alias": "a"}}, '$or needs a non-empty list of conditions, not {"alias":"a"}'),
    ({"$regex": "a"}, '$regex with no field to test: {"$regex":"a"}'),
    ({"$text": "a"}, "the operator $text, which W&B's filter language does not have"),
    ([], "the condition [] is not a test"),
    ({"tag": {"$eq": "gold"}}, "a test of 'tag' (this event's filter tests alias)"),
    ({"$or": [{"alias": "a"}, {"tag": "b"}]}, "a test of 'tag' (this event's filter tests alias)"),
]


@pytest.mark.parametrize(("condition", "reason"), NOT_EXPRESSED)
def test_filters_the_inventory_cannot_express_are_unsupported_with_a_reason(
    condition: object, reason: str
) -> None:
    event = decode_event("ADD_ARTIFACT_ALIAS", _wrapped(condition))  # type: ignore[arg-type]
    assert event.kind == "unsupported:ADD_ARTIFACT_ALIAS"
    assert event.params["reason"] == reason


def test_a_filter_on_an_event_without_a_tested_field_is_unsupported() -> None:
    event = decode_event("CREATE_ARTIFACT", _wrapped({"alias": {"$eq": "a"}}))
    assert (event.kind, event.params["reason"]) == (
        "unsupported:CREATE_ARTIFACT",
        "a filter on artifact_created events: the inventory tests no field of them",
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

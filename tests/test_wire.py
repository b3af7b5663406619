"""Events and actions survive the trip to W&B's wire shapes and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_sdk_style_alias_equality_decodes_to_an_anchored_regex() -> None:
    raw = {"filter": {"$or": [{"$and": [{"alias": {"$eq": "prod.v1"}}]}]}}
    assert decode_event("ADD_ARTIFACT_ALIAS", json.dumps(raw)) == Event(
        "alias_added", {"alias": r"^prod\.v1$"}
    )


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

"""Slack delivery: a notification goes to the integration's incoming-webhook URL as
`{text, blocks}`, with the webhooks' retries, history and SSRF rules; the URL is a
credential, stored encrypted and never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.runtime import slack
from reconcile.server.admin import tasks as admin
from reconcile.server.api.ids import encode_id
from tests.server.helpers import World, basic, trigger_input
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import alias_event, drain, emit

CREATE_TRIGGER = """mutation ($input: CreateFilterTriggerInput!) {
  createFilterTrigger(input: $input) { trigger { id } } }"""
# The path is what makes an incoming-webhook URL a credential.
MESSAGE = "a new model is in production & ready"
PATH = "/flaky/T0CANARY/B0CANARY/slack-url-canary-5e1d"


def _notify(world: World, url: str | None) -> None:
    made = admin.ensure_slack_integration(world.db, "acme", "alerts")
    if url is not None:
        admin.set_slack_url(world.db, "acme", "alerts", url)
    notify = trigger_input(world.project_id, name="notify", triggeredActionType="NOTIFICATION")
    notify["input"]["triggeredActionConfig"] = {
        "notificationActionInput": {
            "integrationID": encode_id("Integration", made.id),
            "title": "Promoted <prod>",
            "message": MESSAGE,
            "severity": "WARN",
        }
    }
    world.admin.ok(CREATE_TRIGGER, notify)


def _history(world: World) -> list[dict[str, object]]:
    answer = world.client.request(
        "GET", "/api/v1/deliveries", params={"automation": "notify"}, headers=basic(world.admin.key)
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["deliveries"])


def test_a_notification_is_sent_to_the_incoming_webhook_with_retries_and_history(
    world: World, receiver: Receiver
) -> None:
    url = receiver.url(PATH)
    _notify(world, url)
    assert emit(world, alias_event("s1")).status_code == 202
    assert drain(world) == 0
    first, second = receiver.requests  # /flaky: a 500, then retried
    assert first.path == second.path == PATH
    assert first.body == second.body
    assert first.headers["content-type"] == "application/json"
    assert "authorization" not in first.headers
    context = "ADD_ARTIFACT_ALIAS · acme/vision/detector:v3"
    expected = slack.body(
        "Promoted <prod>", "a new model is in production & ready", "warn", context
    )
    assert json.loads(first.body) == expected
    assert set(expected) == {"text", "blocks"}
    (delivery,) = _history(world)
    assert delivery["status"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [500, 200]  # type: ignore[union-attr]
    # History shows where it went, not the URL itself.
    assert delivery["url"] == f"http://127.0.0.1:{receiver.port}/***"
    assert "CANARY" not in json.dumps(_history(world))


def test_the_url_is_stored_encrypted(world: World, receiver: Receiver) -> None:
    _notify(world, receiver.url(PATH))
    emit(world, alias_event("s2"))
    assert drain(world) == 0
    world.db.close()
    stored = b"".join(p.read_bytes() for p in world.db.path.parent.glob("server.db*"))
    assert b"CANARY" not in stored
    assert b"slack-url-canary" not in stored


def test_ssrf_rules_apply_to_slack(world: World, receiver: Receiver) -> None:
    _notify(world, receiver.url(PATH))
    emit(world, alias_event("s3"))
    assert drain(world, allow=()) == 0  # loopback not allowed: refused, not retried
    assert receiver.requests == []
    (delivery,) = _history(world)
    assert delivery["status"] == "failed"
    assert [a["error"] for a in delivery["attempts"]] == ["blocked"]  # type: ignore[union-attr]


def test_without_a_url_a_not_sent_delivery_says_why(world: World, receiver: Receiver) -> None:
    _notify(world, None)
    answer = emit(world, alias_event("s4"))
    assert answer.json()["events"] == [{"id": "s4", "automations": ["notify"]}]
    (delivery,) = _history(world)
    assert (delivery["status"], delivery["url"], delivery["body"]) == ("failed", "", "")
    attempts = delivery["attempts"]
    assert [(a["status"], a["error"], a["detail"]) for a in attempts] == [  # type: ignore[union-attr]
        (
            None,
            "not sent",
            "the Slack integration #alerts of team acme has no incoming-webhook URL (set one: "
            "reconcile server create-slack-integration acme alerts --url-env VAR)",
        )
    ]
    assert drain(world) == 0
    assert receiver.requests == []
    refused = world.client.post(
        f"/api/v1/deliveries/{delivery['id']}/resend", headers=basic(world.admin.key)
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["message"] == (
        f"delivery {delivery['id']} was never sent: it has nowhere to go"
    )


def test_the_cli_sets_the_url_from_the_environment_and_never_prints_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.db"
    runner = CliRunner()
    monkeypatch.setenv("SLACK_HOOK", "https://hooks.slack.com/services/T0/B0/cli-canary")
    assert runner.invoke(cli, ["server", "--db", str(db), "create-team", "acme"]).exit_code == 0
    args = ["server", "--db", str(db), "create-slack-integration", "acme", "alerts"]
    done = runner.invoke(cli, [*args, "--url-env", "SLACK_HOOK"])
    assert done.exit_code == 0, done.output
    assert "cli-canary" not in done.output
    assert done.output.endswith(
        f"slack acme #alerts (incoming-webhook URL set) in the database {db}\n"
    )
    missing = runner.invoke(cli, [*args, "--url-env", "NOT_SET_ANYWHERE"])
    assert missing.exit_code == 2
    assert "$NOT_SET_ANYWHERE is not set" in missing.output

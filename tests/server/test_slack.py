"""Slack integrations: made by the admin API or CLI, used by NOTIFICATION automations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconcile.server.admin import tasks as admin
from reconcile.server.admin.commands import server
from reconcile.server.api.ids import decode_id, encode_id
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.store import automations as hooks
from reconcile.server.store import db as db_module
from reconcile.server.store.db import Database
from tests.server.helpers import TEAM, World, trigger_input, webhook

INTEGRATIONS = """
query ($e: String!) {
  entity(name: $e) { integrations { edges { node { __typename
    ... on GenericWebhookIntegration { id name }
    ... on SlackIntegration { id teamName channelName } } } } }
}
"""
ACTION = """
  action: triggeredAction {
    __typename
    ... on NotificationTriggeredAction {
      integration { __typename ... on SlackIntegration { id teamName channelName } }
      title message severity
    }
    ... on GenericWebhookTriggeredAction { integration { __typename } }
  }
"""
CREATE = (
    "mutation ($input: CreateFilterTriggerInput!) { createFilterTrigger(input: $input) {"
    " trigger { id name enabled" + ACTION + "} } }"
)
UPDATE = (
    "mutation ($input: UpdateFilterTriggerInput!) { updateFilterTrigger(input: $input) {"
    " trigger { id name enabled" + ACTION + "} } }"
)
LIST = (
    "query ($e: String!) { entity(name: $e) { triggers { edges { node { name enabled"
    + ACTION
    + "} } } } }"
)
DELETE_TRIGGER = "mutation ($id: ID!) { deleteTrigger(input: {triggerID: $id}) { success } }"
DELETE_INTEGRATION = "mutation ($id: ID!) { deleteIntegration(input: {id: $id}) { success } }"
UPDATE_WEBHOOK = """
mutation ($input: UpdateGenericWebhookIntegrationInput!) {
  updateGenericWebhookIntegration(input: $input) { integration { __typename } }
}
"""


def _slack_id(world: World, channel: str = "alerts", team: str = TEAM) -> str:
    made = admin.ensure_slack_integration(world.db, team, channel, slack_team="ml-org")
    return encode_id("Integration", made.id)


def _notify(scope_id: str, integration_id: str, name: str = "notify", **fields: Any) -> Any:
    """A create input whose action notifies the Slack integration."""
    variables = trigger_input(scope_id, name=name, triggeredActionType="NOTIFICATION")
    notification = {"integrationID": integration_id, "title": "New alias", "message": "hi"}
    notification |= {"severity": "WARN", **fields}
    variables["input"]["triggeredActionConfig"] = {"notificationActionInput": notification}
    return variables


def _action(slack_id: str, title: str, message: str, severity: str) -> dict[str, Any]:
    return {
        "__typename": "NotificationTriggeredAction",
        "integration": {
            "__typename": "SlackIntegration",
            "id": slack_id,
            "teamName": "ml-org",
            "channelName": "alerts",
        },
        "title": title,
        "message": message,
        "severity": severity,
    }


def test_ensure_slack_integration_is_idempotent_by_team_and_channel(db_path: Path) -> None:
    db = Database(db_path)
    admin.bootstrap(db, team="acme")
    admin.ensure_team(db, "other")
    first = admin.ensure_slack_integration(db, "acme", "#alerts")
    again = admin.ensure_slack_integration(db, "acme", "alerts", slack_team="ml-org")
    assert (first.id, first.channel_name, first.slack_team) == (again.id, "alerts", "workspace")
    assert again == first  # the existing one, unchanged
    assert admin.ensure_slack_integration(db, "acme", "deploys").id != first.id
    assert admin.ensure_slack_integration(db, "other", "alerts").id != first.id
    with pytest.raises(InvalidInput, match="invalid Slack channel name 'Has Space'"):
        admin.ensure_slack_integration(db, "acme", "Has Space")
    with pytest.raises(InvalidInput, match="invalid Slack team name"):
        admin.ensure_slack_integration(db, "acme", "alerts", slack_team=" ")
    with pytest.raises(NotFound, match="entity 'nope' not found"):
        admin.ensure_slack_integration(db, "nope", "alerts")
    db.close()


def test_cli_creates_a_slack_integration_once(tmp_path: Path) -> None:
    runner, path = CliRunner(), tmp_path / "server.db"

    def run(*args: str) -> Any:
        return runner.invoke(server, ["--db", str(path), *args])

    assert run("create-team", "acme").exit_code == 0
    made = run("create-slack-integration", "acme", "#alerts", "--slack-team", "ml-org")
    assert made.exit_code == 0, made.output
    integration_id, rest = made.output.strip().split(" ", 1)
    assert rest == f"slack acme #alerts in the database {path}"
    assert run("create-slack-integration", "acme", "alerts").output == made.output
    refused = run("create-slack-integration", "acme", "Bad Name")
    assert refused.exit_code == 1
    assert "invalid Slack channel name 'Bad Name'" in refused.output
    db = Database(path)
    with db.read() as con:
        stored = hooks.get_integration(con, decode_id(integration_id, "Integration")[1])
    db.close()
    # The second call, without --slack-team, left the first one's workspace in place.
    assert stored == hooks.SlackIntegration(
        stored.id, stored.entity_id, "ml-org", "alerts", stored.created_at
    )


def test_version_1_database_keeps_its_webhooks_after_the_slack_migration(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as old:
        old.setattr(db_module, "MIGRATIONS", db_module.MIGRATIONS[:1])
        first = Database(db_path)
        with first.write() as con:
            team = con.execute("INSERT INTO entities (name, created_at) VALUES ('acme', 'x')")
            con.execute(
                "INSERT INTO integrations (entity_id, name, url_endpoint, created_at) "
                "VALUES (?, 'deploy', 'https://h.example/', 'x')",
                (team.lastrowid,),
            )
        assert first.version() == 1
        first.close()
    upgraded = Database(db_path)
    assert upgraded.version() == len(db_module.MIGRATIONS)
    with upgraded.read() as con:
        (listed,) = hooks.integrations_page(con, 1, 0, 10)
    upgraded.close()
    assert isinstance(listed, hooks.Webhook)
    assert listed.name == "deploy"


def test_entity_integrations_lists_slack_next_to_webhooks(world: World) -> None:
    hook_id = webhook(world.admin)
    slack_id = _slack_id(world)
    edges = world.member.ok(INTEGRATIONS, {"e": TEAM})["entity"]["integrations"]["edges"]
    assert [e["node"] for e in edges] == [
        {"__typename": "GenericWebhookIntegration", "id": hook_id, "name": "deploy"},
        {
            "__typename": "SlackIntegration",
            "id": slack_id,
            "teamName": "ml-org",
            "channelName": "alerts",
        },
    ]


def test_notification_create_read_update_delete(world: World) -> None:
    slack_id = _slack_id(world)
    made = world.admin.ok(CREATE, _notify(world.project_id, slack_id))
    trigger = made["createFilterTrigger"]["trigger"]
    assert trigger["action"] == _action(slack_id, "New alias", "hi", "WARN")
    change = {
        "id": trigger["id"],
        "triggeredActionType": "NOTIFICATION",
        "triggeredActionConfig": {
            "notificationActionInput": {
                "integrationID": slack_id,
                "title": "Promoted",
                "message": "to prod",
                "severity": "ERROR",
            }
        },
    }
    updated = world.admin.ok(UPDATE, {"input": change})["updateFilterTrigger"]["trigger"]
    assert updated["action"] == _action(slack_id, "Promoted", "to prod", "ERROR")
    # An update that leaves the action out keeps it.
    world.admin.ok(UPDATE, {"input": {"id": trigger["id"], "enabled": False}})
    (edge,) = world.member.ok(LIST, {"e": TEAM})["entity"]["triggers"]["edges"]
    assert edge["node"]["enabled"] is False
    assert edge["node"]["action"] == _action(slack_id, "Promoted", "to prod", "ERROR")
    in_use = world.admin.fails(DELETE_INTEGRATION, {"id": slack_id})
    assert in_use == "CONFLICT: the Slack integration is used by automation(s) notify"
    assert world.admin.ok(DELETE_TRIGGER, {"id": trigger["id"]})["deleteTrigger"]["success"]
    assert world.admin.ok(DELETE_INTEGRATION, {"id": slack_id})["deleteIntegration"]["success"]
    assert world.admin.ok(INTEGRATIONS, {"e": TEAM})["entity"]["integrations"]["edges"] == []


def test_notification_refuses_the_wrong_kind_or_team_of_integration(world: World) -> None:
    hook_id, slack_id = webhook(world.admin), _slack_id(world)
    foreign_id = _slack_id(world, team="other")
    with_webhook = world.admin.fails(CREATE, _notify(world.project_id, hook_id))
    assert with_webhook == (
        "BAD_USER_INPUT: a NOTIFICATION action needs a Slack integration; "
        "integrationID is a webhook"
    )
    with_slack = world.admin.fails(CREATE, trigger_input(world.project_id, slack_id))
    assert with_slack == (
        "BAD_USER_INPUT: a GENERIC_WEBHOOK action needs a webhook; "
        "integrationID is a Slack integration"
    )
    foreign = world.admin.fails(CREATE, _notify(world.project_id, foreign_id))
    # Another team's integration answers as one that does not exist.
    assert foreign == "NOT_FOUND: integration not found"
    # A webhook automation cannot be switched to notify through its webhook.
    made = world.admin.ok(CREATE, trigger_input(world.project_id, hook_id, name="hook"))
    switch = _notify(world.project_id, hook_id)["input"]
    switch = {"id": made["createFilterTrigger"]["trigger"]["id"], **switch}
    assert "needs a Slack integration" in world.admin.fails(UPDATE, {"input": switch})
    as_webhook = {"input": {"id": slack_id, "urlEndpoint": "https://x.example/"}}
    assert world.admin.fails(UPDATE_WEBHOOK, as_webhook) == (
        "BAD_USER_INPUT: the integration is a Slack integration, not a webhook"
    )


def test_only_team_admins_delete_a_slack_integration(world: World) -> None:
    slack_id = _slack_id(world)
    refused = world.member.fails(DELETE_INTEGRATION, {"id": slack_id})
    assert refused.startswith("FORBIDDEN: permission denied")
    assert len(world.admin.ok(INTEGRATIONS, {"e": TEAM})["entity"]["integrations"]["edges"]) == 1

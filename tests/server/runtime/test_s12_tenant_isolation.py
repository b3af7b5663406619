"""S12, tenant isolation: two teams of one organization share its registries, never each
other's secrets, webhooks or Slack channels.

A delivery is signed and authorized with the secrets of the webhook's own team, whoever
sent the event; an automation uses only integrations of a team its author is a member
of; a webhook's URL path and query and its secret names are shown only to its team.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from reconcile.core import ownership
from reconcile.runtime import signing
from reconcile.server.admin import tasks as admin
from reconcile.server.api.ids import encode_id
from tests.server.helpers import CREATE_TRIGGER, CREATE_WEBHOOK, ORG_ENTITY, TEAM, Api, World
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import drain, emit

BETA = "beta"
INSERT_SECRET = """
mutation ($e: String!, $n: String!, $v: String!) {
  insertSecret(input: {entityName: $e, secretName: $n, secretValue: $v}) { success }
}
"""
STEAL = '{"token": "${ACCESS_TOKEN}", "from": "${entity_name}"}'
EVERY_ALIAS = json.dumps({"$or": [{"$and": []}]})
UPDATE_TRIGGER = """
mutation ($input: UpdateFilterTriggerInput!) {
  updateFilterTrigger(input: $input) { trigger { id } } }"""


@dataclass(frozen=True)
class Tenant:
    """A team's admin, and the same-named secrets each team holds, with its own values."""

    team: str
    api: Api
    token: str
    secret: str


def _beta(world: World) -> Api:
    """A second team of acme's organization, administered by `bea` (not in acme)."""
    admin.ensure_team(world.db, BETA, organization=TEAM)
    admin.create_user(world.db, "bea")
    admin.set_role(world.db, BETA, "bea", "admin")
    return world.api(admin.create_api_key(world.db, "bea"))


def _tenant(api: Api, team: str, url: str) -> tuple[Tenant, str]:
    """The team's secrets TOKEN and SIGNING and its webhook `hook` to `url`."""
    tenant = Tenant(team, api, f"token-of-{team}-canary", f"signing-of-{team}-canary")
    api.ok(INSERT_SECRET, {"e": team, "n": "TOKEN", "v": tenant.token})
    api.ok(INSERT_SECRET, {"e": team, "n": "SIGNING", "v": tenant.secret})
    hook = {
        "entityName": team,
        "name": "hook",
        "urlEndpoint": url,
        "secretRef": "SIGNING",
        "accessTokenRef": "TOKEN",
    }
    made = api.ok(CREATE_WEBHOOK, {"input": hook})
    return tenant, made["createGenericWebhookIntegration"]["integration"]["id"]


def _registry_automation(
    api: Api, registry_id: str, hook_id: str, name: str, payload: str = STEAL
) -> dict[str, Any]:
    made = {
        "name": name,
        "enabled": True,
        "scopeType": "PROJECT",
        "scopeID": registry_id,
        "triggeringEventType": "ADD_ARTIFACT_ALIAS",
        "eventFilter": EVERY_ALIAS,
        "triggeredActionType": "GENERIC_WEBHOOK",
        "triggeredActionConfig": {
            "genericWebhookActionInput": {"integrationID": hook_id, "requestPayload": payload}
        },
    }
    return {"input": made}


def _registry_event(event_id: str, team: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "alias_added",
        "entity": team,
        "registry": "models",
        "collection": "fraud",
        "artifact": {"type": "model", "version": 1},
        "alias": "prod",
    }


def test_a_delivery_uses_the_secrets_of_the_webhooks_team_whoever_sent_the_event(
    world: World, receiver: Receiver
) -> None:
    """Each team's admin makes same-named secrets, a webhook to their own receiver and a
    registry automation reading `${ACCESS_TOKEN}`; each team then sends its normal
    registry event. Every delivery carries its own team's token and signature, both ways."""
    beta_api = _beta(world)
    acme, acme_hook = _tenant(world.admin, TEAM, receiver.url("/acme"))
    beta, beta_hook = _tenant(beta_api, BETA, receiver.url("/beta"))
    world.admin.ok(
        CREATE_TRIGGER,
        _registry_automation(world.admin, world.registry_id, acme_hook, "acme-steal"),
    )
    beta_api.ok(
        CREATE_TRIGGER, _registry_automation(beta_api, world.registry_id, beta_hook, "beta-steal")
    )
    for event_id, sender in (("from-acme", acme), ("from-beta", beta)):
        answer = emit(world, _registry_event(event_id, sender.team), sender.api.key)
        assert answer.json()["events"][0]["automations"] == ["acme-steal", "beta-steal"]
    assert drain(world) == 0
    got = sorted(
        (
            r.path,
            json.loads(r.body)["from"],
            json.loads(r.body)["token"],
            r.headers["authorization"],
        )
        for r in receiver.requests
    )
    assert got == [
        ("/acme", TEAM, acme.token, f"Bearer {acme.token}"),
        ("/acme", BETA, acme.token, f"Bearer {acme.token}"),
        ("/beta", TEAM, beta.token, f"Bearer {beta.token}"),
        ("/beta", BETA, beta.token, f"Bearer {beta.token}"),
    ]
    for request in receiver.requests:
        owner = acme if request.path == "/acme" else beta
        expected = signing.wandb_signature(owner.secret, request.body)
        assert request.headers["x-wandb-signature"] == expected


def test_a_registry_automation_may_use_only_a_webhook_of_its_authors_teams(
    world: World, receiver: Receiver
) -> None:
    """The confused deputy: `reg`, a plain member of acme who administers the registry,
    guesses beta's webhook id; beta's endpoint must never get her payload."""
    beta_api = _beta(world)
    _, acme_hook = _tenant(world.admin, TEAM, receiver.url("/acme"))
    _, beta_hook = _tenant(beta_api, BETA, receiver.url("/beta"))
    refused = (
        "FORBIDDEN: permission denied: an automation may use only webhooks and Slack "
        "integrations of a team you are a member of"
    )
    deputy = world.registry_admin
    made = _registry_automation(deputy, world.registry_id, beta_hook, "deputy")
    assert deputy.fails(CREATE_TRIGGER, made) == refused
    # Her own team's webhook she may use; swapping it for beta's afterwards is refused too.
    made = _registry_automation(deputy, world.registry_id, acme_hook, "deputy")
    trigger_id = deputy.ok(CREATE_TRIGGER, made)["result"]["trigger"]["id"]
    swap = {
        "id": trigger_id,
        "triggeredActionType": "GENERIC_WEBHOOK",
        "triggeredActionConfig": {
            "genericWebhookActionInput": {"integrationID": beta_hook, "requestPayload": STEAL}
        },
    }
    assert deputy.fails(UPDATE_TRIGGER, {"input": swap}) == refused
    # ...and so is editing the payload of an automation that calls beta's webhook.
    made = _registry_automation(beta_api, world.registry_id, beta_hook, "beta-own")
    beta_own = beta_api.ok(CREATE_TRIGGER, made)["result"]["trigger"]["id"]
    edit = {**swap, "id": beta_own}
    assert deputy.fails(UPDATE_TRIGGER, {"input": edit}) == refused
    # Beta's admin is no member of acme: acme's webhook is out of her reach alike.
    made = _registry_automation(beta_api, world.registry_id, acme_hook, "beta-reach")
    assert beta_api.fails(CREATE_TRIGGER, made) == refused
    # Another organization's webhook does not exist for a registry of this one.
    olga_hook = _other_org_webhook(world)
    made = _registry_automation(world.admin, world.registry_id, olga_hook, "far")
    assert world.admin.fails(CREATE_TRIGGER, made) == "NOT_FOUND: integration not found"
    assert emit(world, _registry_event("e1", TEAM)).status_code == 202
    assert drain(world) == 0
    bodies = sorted((r.path, json.loads(r.body)["token"]) for r in receiver.requests)
    # "deputy" and "beta-own", each as its own team made it, with its own team's token.
    assert bodies == [("/acme", "token-of-acme-canary"), ("/beta", "token-of-beta-canary")]


def _other_org_webhook(world: World) -> str:
    hook = {"entityName": "other", "name": "far", "urlEndpoint": "https://hooks.other/x"}
    made = world.outsider.ok(CREATE_WEBHOOK, {"input": hook})
    found: str = made["createGenericWebhookIntegration"]["integration"]["id"]
    return found


# As reconcile writes it: its ownership fragment after the URL (marker, rotation counter).
SECRET_URL = (
    "https://hooks.beta.example:8443/deploy/s3cr3t-path?key=canary-query"
    f"#{ownership.FRAGMENT};TOKEN=2"
)
REGISTRY_TRIGGERS = """
query ($e: String!) { entity(name: $e) { triggers { edges { node { name
  triggeredAction { ... on GenericWebhookTriggeredAction { integration {
    ... on GenericWebhookIntegration { name urlEndpoint secretRef accessTokenRef } } } } } } } } }
"""
PROJECT_TRIGGERS = """
{ project(name: "wandb-registry-models", entityName: "acme-org") { triggers { name
  triggeredAction { ... on GenericWebhookTriggeredAction { integration {
    ... on GenericWebhookIntegration { urlEndpoint secretRef accessTokenRef } } } } } } }
"""
INTEGRATIONS = """
{ entity(name: "beta") { integrations { edges { node {
  ... on GenericWebhookIntegration { urlEndpoint secretRef accessTokenRef } } } } } }
"""
WHOLE = {"urlEndpoint": SECRET_URL, "secretRef": "SIGNING", "accessTokenRef": "TOKEN"}
MEMBER = {
    **WHOLE,
    "urlEndpoint": f"https://hooks.beta.example:8443/***#{ownership.FRAGMENT};TOKEN=2",
}
OUTSIDER = {
    "urlEndpoint": "https://hooks.beta.example:8443/***",
    "secretRef": None,
    "accessTokenRef": None,
}


@pytest.mark.parametrize(
    ("reader", "seen"),
    [("bea", WHOLE), ("bob", MEMBER), ("mia", OUTSIDER), ("admin", OUTSIDER)],
)
def test_a_webhooks_path_and_secret_names_are_shown_only_to_its_team(
    world: World, reader: str, seen: dict[str, Any]
) -> None:
    """bea administers beta, bob is a plain member of it; mia is a member and the admin
    an admin of acme, the other team of the organization: they read the registry's
    automations, but not where beta's webhook points past its host, nor its secrets."""
    beta_api = _beta(world)
    _, beta_hook = _tenant(beta_api, BETA, SECRET_URL)
    beta_api.ok(CREATE_TRIGGER, _registry_automation(beta_api, world.registry_id, beta_hook, "b"))
    admin.create_user(world.db, "bob")
    admin.set_role(world.db, BETA, "bob", "member")
    readers = {
        "bea": beta_api,
        "bob": world.api(admin.create_api_key(world.db, "bob")),
        "mia": world.member,
        "admin": world.admin,
    }
    api = readers[reader]
    listed = api.ok(REGISTRY_TRIGGERS, {"e": ORG_ENTITY})["entity"]["triggers"]["edges"]
    (node,) = [edge["node"] for edge in listed if edge["node"]["name"] == "b"]
    assert node["triggeredAction"]["integration"] == {"name": "hook", **seen}
    walked = api.ok(PROJECT_TRIGGERS)["project"]["triggers"]
    (action,) = [t["triggeredAction"] for t in walked if t["name"] == "b"]
    assert action["integration"] == seen
    entity = api.ok(INTEGRATIONS)["entity"]
    if reader in ("bea", "bob"):
        assert [edge["node"] for edge in entity["integrations"]["edges"]] == [seen]
    else:
        assert entity is None  # not a member of beta: the team does not exist for them


def test_a_registry_automation_may_use_only_a_slack_channel_of_its_authors_teams(
    world: World,
) -> None:
    _beta(world)
    theirs = admin.ensure_slack_integration(world.db, BETA, "deploys")
    ours = admin.ensure_slack_integration(world.db, TEAM, "alerts")

    def notify(integration_id: int, name: str) -> dict[str, Any]:
        made = _registry_automation(world.registry_admin, world.registry_id, "", name)
        made["input"]["triggeredActionType"] = "NOTIFICATION"
        made["input"]["triggeredActionConfig"] = {
            "notificationActionInput": {
                "integrationID": encode_id("Integration", integration_id),
                "title": "t",
                "message": "m",
                "severity": "INFO",
            }
        }
        return made

    assert world.registry_admin.fails(CREATE_TRIGGER, notify(theirs.id, "to-beta")) == (
        "FORBIDDEN: permission denied: an automation may use only webhooks and Slack "
        "integrations of a team you are a member of"
    )
    world.registry_admin.ok(CREATE_TRIGGER, notify(ours.id, "to-acme"))

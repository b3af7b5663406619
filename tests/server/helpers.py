"""Helpers for server tests: a GraphQL caller, a populated team, common documents."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from reconcile.server.admin import tasks as admin
from reconcile.server.store.db import Database

TEAM = "acme"
ORG_ENTITY = "acme-org"  # the entity of acme's organization: it holds the registries


def sdk_environment(url: str, key: str, home: Path) -> dict[str, str]:
    """The environment that points the official `wandb` SDK at a server, its files in `home`."""
    return {
        "WANDB_BASE_URL": url,
        "WANDB_API_KEY": key,
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_SILENT": "true",
        "WANDB_DIR": str(home),
        "WANDB_CONFIG_DIR": str(home / "config"),
        "WANDB_CACHE_DIR": str(home / "cache"),
        "WANDB_DATA_DIR": str(home / "data"),
        "HOME": str(home),
    }


def basic(key: str) -> dict[str, str]:
    token = base64.b64encode(f"api:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class InProcess:
    """A synchronous client for the app through `httpx.ASGITransport`: no socket."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://server") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(send())

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@dataclass
class Api:
    """A GraphQL caller holding one user's key."""

    client: InProcess
    key: str

    def post(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        body = {"query": query, "variables": variables or {}, "operationName": ""}
        return self.client.post("/graphql", json=body, headers=basic(self.key))

    def ok(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.post(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def fails(self, query: str, variables: dict[str, Any] | None = None, status: int = 200) -> str:
        """The first error's code and message of a request that must fail."""
        response = self.post(query, variables)
        assert response.status_code == status, response.text
        error = response.json()["errors"][0]
        return f"{error.get('extensions', {}).get('code')}: {error['message']}"


@dataclass
class World:
    """A team with one user per role, a project, a registry and their collections."""

    db: Database
    client: InProcess
    admin: Api
    member: Api
    project_admin: Api
    registry_admin: Api
    outsider: Api
    project_id: str
    registry_id: str
    collection_id: str
    registry_collection_id: str

    def api(self, key: str) -> Api:
        return Api(self.client, key)


IDS_QUERY = """
{
  p: project(name: "vision", entityName: "acme") {
    id artifactType(name: "model") { artifactCollection(name: "detector") { id } }
  }
  r: project(name: "wandb-registry-models", entityName: "acme-org") {
    id artifactType(name: "model") { artifactCollection(name: "prod-detector") { id } }
  }
}
"""

CREATE_WEBHOOK = """
mutation ($input: CreateGenericWebhookIntegrationInput!) {
  createGenericWebhookIntegration(input: $input) {
    integration {
      __typename
      ... on GenericWebhookIntegration { id name urlEndpoint secretRef accessTokenRef }
    }
  }
}
"""

CREATE_TRIGGER = """
mutation CreateAutomation($input: CreateFilterTriggerInput!) {
  result: createFilterTrigger(input: $input) {
    trigger {
      id name description enabled
      scope { __typename ... on Project { id name } ... on ArtifactSequence { id name }
              ... on ArtifactPortfolio { id name } ... on Entity { id name } }
      event: triggeringCondition {
        __typename ... on FilterEventTriggeringCondition { eventType filter }
      }
      action: triggeredAction {
        __typename
        ... on GenericWebhookTriggeredAction {
          integration { __typename ... on GenericWebhookIntegration { id name } } requestPayload
        }
        ... on NoOpTriggeredAction { noOp }
      }
    }
  }
}
"""

ALIAS_FILTER = '{"$or":[{"$and":[{"alias":{"$regex":"^prod$"}}]}]}'


def webhook(api: Api, name: str = "deploy", **extra: Any) -> str:
    data = api.ok(
        CREATE_WEBHOOK,
        {
            "input": {
                "entityName": TEAM,
                "name": name,
                "urlEndpoint": "https://hooks.example/x",
                **extra,
            }
        },
    )
    hook_id: str = data["createGenericWebhookIntegration"]["integration"]["id"]
    return hook_id


def trigger_input(
    scope_id: str, integration_id: str | None = None, *, name: str = "promote", **extra: Any
) -> dict[str, Any]:
    """A create input: alias regex on a project scope with a webhook (or no-op) action."""
    action: dict[str, Any]
    if integration_id is None:
        action = {"noOpActionInput": {"noOp": True}}
    else:
        action = {
            "genericWebhookActionInput": {
                "integrationID": integration_id,
                "requestPayload": '{"alias": "${alias}"}',
            }
        }
    return {
        "input": {
            "name": name,
            "description": "managed-by: reconcile",
            "enabled": True,
            "scopeType": "PROJECT",
            "scopeID": scope_id,
            "triggeringEventType": "ADD_ARTIFACT_ALIAS",
            "eventFilter": ALIAS_FILTER,
            "triggeredActionType": "NO_OP" if integration_id is None else "GENERIC_WEBHOOK",
            "triggeredActionConfig": action,
            **extra,
        }
    }


def _user(db: Database, name: str, role: str | None) -> str:
    admin.create_user(db, name)
    if role:
        admin.set_role(db, TEAM, name, role)
    return admin.create_api_key(db, name)


def build_world(client: InProcess) -> World:
    """Bootstrap a team with one user per role, a project, a registry and collections."""
    db: Database = client.app.state.service.db
    boot = admin.bootstrap(db, team=TEAM)
    assert boot.api_key
    keys = {
        "member": _user(db, "mia", "member"),
        "project_admin": _user(db, "pat", "member"),
        "registry_admin": _user(db, "reg", "member"),
        "outsider": _user(db, "olga", None),
    }
    admin.ensure_team(db, "other")
    admin.set_role(db, "other", "olga", "admin")
    admin.ensure_project(db, TEAM, "vision", admins=("pat",))
    admin.ensure_registry(db, TEAM, "models", admins=("reg",))
    admin.ensure_collection(db, TEAM, "vision", "detector", "model")
    admin.ensure_collection(db, TEAM, "wandb-registry-models", "prod-detector", "model")
    api = Api(client, boot.api_key)
    ids = api.ok(IDS_QUERY)
    return World(
        db=db,
        client=client,
        admin=api,
        member=Api(client, keys["member"]),
        project_admin=Api(client, keys["project_admin"]),
        registry_admin=Api(client, keys["registry_admin"]),
        outsider=Api(client, keys["outsider"]),
        project_id=ids["p"]["id"],
        registry_id=ids["r"]["id"],
        collection_id=ids["p"]["artifactType"]["artifactCollection"]["id"],
        registry_collection_id=ids["r"]["artifactType"]["artifactCollection"]["id"],
    )

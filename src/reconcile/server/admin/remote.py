"""The admin commands against a running server: its GraphQL API, with an admin's API key.

The server checks every call as it checks the SDK's (only a team admin creates
projects, registries and collections), so an admin command never bypasses a role here.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from reconcile.core.model import REGISTRY_PREFIX
from reconcile.core.urls import server_base

KEY_ENV = "WANDB_API_KEY"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)

UPSERT_PROJECT = """
mutation UpsertModel($entity: String!, $name: String!) {
  upsertModel(input: {entityName: $entity, name: $name}) {
    project { name entityName }
  }
}"""
CREATE_COLLECTION = """
mutation CreateCollection($entity: String!, $project: String!, $name: String!, $type: String!) {
  createArtifactCollection(input: {
    entityName: $entity, projectName: $project, name: $name, artifactTypeName: $type
  }) { artifactCollection { name } }
}"""
ORG_ENTITY = """
query OrgEntity($entity: String!) {
  entity(name: $entity) { organization { orgEntity { name } } }
}"""


CREATE_TEAM = """
mutation CreateTeam($name: String!, $organization: String) {
  createTeam(input: {teamName: $name, organizationName: $organization}) {
    entity { name } teamAdminUserName
  }
}"""
CREATE_USER = """
mutation CreateUser($username: String!, $email: String!) {
  createUser(input: {username: $username, email: $email}) { user { username } }
}"""
SET_ROLE = """
mutation SetRole($team: String!, $username: String!, $role: String!) {
  createInvite(input: {entityName: $team, username: $username, role: $role}) {
    invite { role }
  }
}"""
CREATE_KEY = """
mutation CreateKey($username: String!, $description: String) {
  generateApiKey(input: {username: $username, description: $description}) { apiKey { name } }
}"""
LIST_KEYS = """
query ListKeys($username: String) {
  instanceApiKeys(username: $username) { id username description createdAt }
}"""
DELETE_KEY = """
mutation DeleteKey($id: String!) {
  deleteApiKey(input: {id: $id}) { apiKey { id username } }
}"""
REMOVE_MEMBER = """
mutation RemoveMember($team: String!, $username: String!) {
  deleteInvite(input: {entityName: $team, username: $username}) { success }
}"""
DELETE_USER = """
mutation DeleteUser($username: String!) {
  deleteUser(input: {username: $username}) { user { username } revokedApiKeys }
}"""
CREATE_SLACK = """
mutation CreateSlack($team: String!, $channel: String!, $workspace: String, $url: String) {
  createSlackIntegration(input: {
    entityName: $team, channelName: $channel, slackTeamName: $workspace, webhookUrl: $url
  }) { integration { id channelName } webhookUrlSet }
}"""


class RemoteError(Exception):
    """The server refused, or could not be reached; the message says which and why."""


@dataclass(frozen=True)
class Remote:
    """A running server at `url` (its base, or its /graphql endpoint), called with `api_key`."""

    url: str
    api_key: str

    @classmethod
    def of(cls, url: str, api_key: str | None) -> Remote:
        if not api_key:
            raise RemoteError(f"set {KEY_ENV} to the API key of an admin of {server_base(url)}")
        return cls(server_base(url), api_key)

    def call(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """The `data` of the answer; RemoteError with the server's own message."""
        token = base64.b64encode(f"api:{self.api_key}".encode()).decode()
        try:
            answer = httpx.post(
                f"{self.url}/graphql",
                json={"query": document, "variables": variables},
                headers={"Authorization": f"Basic {token}"},
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as error:
            raise RemoteError(f"cannot reach {self.url}: {error}") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise RemoteError("; ".join(str(e.get("message", e)) for e in errors))
        if answer.status_code >= 400 or not isinstance(body, dict):
            raise RemoteError(f"HTTP {answer.status_code} from {self.url}")
        data = body.get("data")
        return data if isinstance(data, dict) else {}

    def project(self, team: str, name: str) -> str:
        """Create the project `team/name` (if missing); its `entity/name`."""
        made = self.call(UPSERT_PROJECT, {"entity": team, "name": name})["upsertModel"]["project"]
        return f"{made['entityName']}/{made['name']}"

    def registry(self, team: str, name: str) -> str:
        """Create the registry `name` of the team's organization (if missing)."""
        full = name if name.lower().startswith(REGISTRY_PREFIX) else REGISTRY_PREFIX + name
        return self.project(self.org_entity(team), full)

    def collection(self, team: str, project: str, name: str, type_name: str) -> str:
        owner = self.org_entity(team) if project.startswith(REGISTRY_PREFIX) else team
        variables = {"entity": owner, "project": project, "name": name, "type": type_name}
        self.call(CREATE_COLLECTION, variables)
        return f"{owner}/{project}/{name}"

    def org_entity(self, team: str) -> str:
        data = self.call(ORG_ENTITY, {"entity": team})
        if data.get("entity") is None:
            raise RemoteError(f"team {team!r} not found on {self.url}")
        node = data["entity"].get("organization") or {}
        name = (node.get("orgEntity") or {}).get("name")
        if not name:
            raise RemoteError(f"team {team!r} has no organization on {self.url}")
        return str(name)

    def team(self, name: str, organization: str | None) -> tuple[str, str | None]:
        """Create the team (if missing); its name, and who was made its admin."""
        made = self.call(CREATE_TEAM, {"name": name, "organization": organization})["createTeam"]
        return str(made["entity"]["name"]), made["teamAdminUserName"]

    def user(self, username: str, email: str) -> None:
        self.call(CREATE_USER, {"username": username, "email": email})

    def set_role(self, team: str, username: str, role: str) -> None:
        self.call(SET_ROLE, {"team": team, "username": username, "role": role})

    def create_key(self, username: str, description: str) -> str:
        variables = {"username": username, "description": description}
        return str(self.call(CREATE_KEY, variables)["generateApiKey"]["apiKey"]["name"])

    def list_keys(self, username: str | None) -> list[dict[str, Any]]:
        keys: list[dict[str, Any]] = self.call(LIST_KEYS, {"username": username})["instanceApiKeys"]
        return keys

    def delete_key(self, key_id: int) -> tuple[str, str]:
        """Revoke the key; its id and its owner's name."""
        gone = self.call(DELETE_KEY, {"id": str(key_id)})["deleteApiKey"]["apiKey"]
        return str(gone["id"]), str(gone["username"])

    def remove_member(self, team: str, username: str) -> None:
        self.call(REMOVE_MEMBER, {"team": team, "username": username})

    def delete_user(self, username: str) -> int:
        """Delete the user; how many of its API keys were revoked."""
        return int(self.call(DELETE_USER, {"username": username})["deleteUser"]["revokedApiKeys"])

    def slack_integration(
        self, team: str, channel: str, workspace: str, url: str | None
    ) -> tuple[str, str]:
        """The team's Slack integration for `channel`, made if missing: its id and channel."""
        variables = {"team": team, "channel": channel, "workspace": workspace, "url": url}
        made = self.call(CREATE_SLACK, variables)["createSlackIntegration"]["integration"]
        return str(made["id"]), str(made["channelName"])

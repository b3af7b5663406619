"""Rows turned into the dictionaries GraphQL answers with, in W&B's shapes and quirks.

Objects carry `__typename` (graphql-core resolves unions and interfaces from it)
and a private `_row` the nested resolvers read.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconcile.core import features
from reconcile.server.api.ids import encode_cursor, encode_id
from reconcile.server.api.urls import shown_url
from reconcile.server.api.validation import ARTIFACT_EVENTS
from reconcile.server.store import teams as team_store
from reconcile.server.store.automations import Integration, SlackIntegration, TriggerRow, Webhook
from reconcile.server.store.teams import Collection, Organization, Project, Team, User

Obj = dict[str, Any]

# Features the SDK checks before sending an event, scope or action it gates.
FEATURES = (
    "QUERY_AUTOMATIONS_ON_ENTITY",
    "AUTOMATION_EVENT_RUN_METRIC",
    "AUTOMATION_EVENT_RUN_METRIC_CHANGE",
    "AUTOMATION_EVENT_RUN_METRIC_ZSCORE",
    "AUTOMATION_EVENT_RUN_STATE",
    "AUTOMATION_EVENT_ADD_ARTIFACT_TAG",
    "AUTOMATION_EVENT_ADD_COLLECTION_TAG",
    "AUTOMATION_EVENT_REMOVE_ARTIFACT_TAG",
    "AUTOMATION_EVENT_REMOVE_COLLECTION_TAG",
    "AUTOMATION_EVENT_UNLINK_ARTIFACT",
    "AUTOMATION_ACTION_NO_OP",
    "AUTOMATION_SCOPE_ENTITY",
    # `api.registry()` / `api.registries()` and `api.create_registry()` refuse without these.
    "ARTIFACT_REGISTRY_SEARCH",
    "INCLUDE_ARTIFACT_TYPES_IN_REGISTRY_CREATION",
    # reconcile's own: the reader may ask for pages of 1,000 automations.
    features.LARGE_PAGES,
)


def user(row: User, teams: list[Team]) -> Obj:
    entity = row.default_entity or (teams[0].name if teams else row.username)
    return {
        "__typename": "User",
        "id": encode_id("User", row.id),
        "name": row.username,
        "username": row.username,
        "email": row.email,
        "admin": False,
        "flags": None,
        "entity": entity,
        "deletedAt": None,
        # API keys are never listed: only their hashes are stored.
        "apiKeys": {"edges": []},
        "teams": {"edges": [{"node": team(t)} for t in teams]},
        "_row": row,
    }


def user_id(number: int) -> str:
    return encode_id("User", number)


def team_id(number: int) -> str:
    return encode_id("Entity", number)


def team(row: Team) -> Obj:
    return {
        "__typename": "Entity",
        "id": encode_id("Entity", row.id),
        "name": row.name,
        "entityType": row.entity_type,
        "isTeam": not row.is_org,
        "available": False,
        "readOnly": False,
        "photoUrl": None,
        "readOnlyAdmin": False,
        "privateOnly": False,
        "storageBytes": 0,
        "codeSavingEnabled": False,
        "defaultAccess": "PRIVATE",
        "isPaid": False,
        "_row": row,
    }


def project(row: Project) -> Obj:
    return {
        "__typename": "Project",
        "id": encode_id("Project", row.id),
        "internalId": str(row.id),
        "readOnly": False,
        "name": row.name,
        "entityName": row.entity_name,
        "description": row.description,
        "access": row.access,
        "views": None,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at or row.created_at,
        "allowAllArtifactTypesInRegistry": row.allow_all_types,
        "isBenchmark": False,
        "user": None,
        "_row": row,
    }


def collection(row: Collection) -> Obj:
    return {
        "__typename": "ArtifactPortfolio" if row.project.is_registry else "ArtifactSequence",
        "id": encode_id("ArtifactCollection", row.id),
        "name": row.name,
        "description": row.description,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at or row.created_at,
        "project": project(row.project),
        "defaultArtifactType": artifact_type(row.project, row.type_name),
        "tags": {"edges": [{"node": tag(row, name)} for name in row.tags]},
        "_row": row,
    }


def tag(owner: Collection, name: str) -> Obj:
    # A tag is named by its collection and its name: no row of its own to number.
    return {"__typename": "Tag", "id": encode_id("Tag", owner.id), "name": name}


def artifact_type(owner: Project, name: str) -> Obj:
    # Types are not stored as rows: a type exists where a collection uses it.
    return {
        "__typename": "ArtifactType",
        "id": encode_id("ArtifactType", owner.id),
        "name": name,
        "description": None,
        "createdAt": owner.created_at,
        "_row": owner,
    }


def organization(row: Organization) -> Obj:
    org_entity = team(row.entity)
    return {
        "id": encode_id("Organization", row.id),
        "name": row.name,
        "orgEntity": org_entity,
        "coreWeaveOrganizationId": None,
    }


@dataclass(frozen=True)
class Sight:
    """What a reader may see of webhooks: their role in each team they belong to.

    The admins of a webhook's team see it whole (they manage it; `reconcile plan`
    compares its URL). Its other members see the URL's scheme, host and port only, as
    delivery history shows it, with reconcile's ownership fragment (no credential: a
    marker, rotation counters, the name of a `from_env` variable), and the names of its
    secrets. Anyone else (a member of another team of the organization reading a
    registry's automations) sees the endpoint alone and no secret names. Internal
    callers see everything (`EVERYTHING`).
    """

    roles: Mapping[int, str] = field(default_factory=dict)
    everything: bool = False

    @classmethod
    def of(cls, con: sqlite3.Connection, user: User) -> Sight:
        return cls(team_store.roles_of(con, user.id))

    def role(self, team_id: int) -> str | None:
        return "admin" if self.everything else self.roles.get(team_id)


EVERYTHING = Sight(everything=True)


def _url_seen(url: str, role: str | None) -> str:
    if role == "admin":
        return url
    base, mark, fragment = url.partition("#")
    return shown_url(base) + (mark + fragment if role else "")


def webhook(row: Webhook, sight: Sight = EVERYTHING) -> Obj:
    role = sight.role(row.entity_id)
    return {
        "__typename": "GenericWebhookIntegration",
        "id": encode_id("Integration", row.id),
        "name": row.name,
        "urlEndpoint": _url_seen(row.url_endpoint, role),
        "secretRef": row.secret_ref if role else None,
        "accessTokenRef": row.access_token_ref if role else None,
        "createdAt": row.created_at,
    }


def slack(row: SlackIntegration) -> Obj:
    return {
        "__typename": "SlackIntegration",
        "id": encode_id("Integration", row.id),
        "teamName": row.slack_team,
        "channelName": row.channel_name,
    }


def integration(row: Integration, sight: Sight = EVERYTHING) -> Obj:
    return webhook(row, sight) if isinstance(row, Webhook) else slack(row)


_SCOPE_ID_KIND = {
    "Project": "Project",
    "ArtifactSequence": "ArtifactCollection",
    "ArtifactPortfolio": "ArtifactCollection",
    "Entity": "Entity",
}


def trigger(row: TriggerRow, sight: Sight = EVERYTHING) -> Obj:
    scope: Obj = {
        "__typename": row.scope_typename,
        "id": encode_id(_SCOPE_ID_KIND[row.scope_typename], row.scope_id),
        "name": row.scope_name,
        "entityType": row.scope_entity_type,
    }
    if row.scope_project is not None:
        project_id, project_name, entity_name = row.scope_project
        if row.scope_typename == "Project":
            scope["entityName"] = entity_name
        else:  # a collection answers which project it is in, as W&B's does
            scope["project"] = {
                "__typename": "Project",
                "id": encode_id("Project", project_id),
                "name": project_name,
                "entityName": entity_name,
            }
    return {
        "__typename": "Trigger",
        "id": encode_id("Trigger", row.id),
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
        "name": row.name,
        "description": row.description,
        "enabled": row.enabled,
        "scope": scope,
        "triggeringCondition": {
            "__typename": "FilterEventTriggeringCondition",
            "eventType": row.event_type,
            "filter": read_filter(row.event_type, row.event_filter),
        },
        "triggeredAction": action(row, sight),
    }


def read_filter(event_type: str, stored: str) -> str:
    """W&B answers artifact-event filters wrapped once more, as `{"filter": ...}`."""
    if event_type in ARTIFACT_EVENTS:
        # The stored text was checked to be a JSON object when it was written.
        return '{"filter": ' + stored + "}"
    return stored


# json.loads spends most of its time on a tiny text in two whitespace regexes;
# stored configs are json.dumps output, which starts at the object itself.
_RAW_DECODE = json.JSONDecoder().raw_decode


def _stored_config(text: str) -> dict[str, Any]:
    config: dict[str, Any] = _RAW_DECODE(text)[0]
    return config


def action(row: TriggerRow, sight: Sight = EVERYTHING) -> Obj:
    if row.action_type == "GENERIC_WEBHOOK" and row.webhook is not None:
        config = _stored_config(row.action_config)
        return {
            "__typename": "GenericWebhookTriggeredAction",
            "integration": webhook(row.webhook, sight),
            "requestPayload": config.get("requestPayload"),
        }
    if row.action_type == "NOTIFICATION" and row.slack is not None:
        config = _stored_config(row.action_config)
        return {
            "__typename": "NotificationTriggeredAction",
            "integration": slack(row.slack),
            "title": config.get("title"),
            "message": config.get("message"),
            "severity": config.get("severity"),
        }
    return {"__typename": "NoOpTriggeredAction", "noOp": True}


def page(nodes: list[Obj], cursors: list[int], has_next: bool) -> Obj:
    """A Relay connection over already-built nodes."""
    return {
        "pageInfo": {
            "startCursor": encode_cursor(cursors[0]) if cursors else None,
            "endCursor": encode_cursor(cursors[-1]) if cursors else None,
            "hasNextPage": has_next,
            "hasPreviousPage": False,
        },
        "edges": [
            {"cursor": encode_cursor(c), "node": n} for n, c in zip(nodes, cursors, strict=True)
        ],
    }

"""Rows for what a team configures: secrets, webhook and Slack integrations, triggers.

Secret values arrive here already encrypted; nothing in this module sees plaintext.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconcile.server.errors import (
    Conflict,
    DuplicateTrigger,
    InvalidInput,
    MissingTrigger,
    NotFound,
)
from reconcile.server.store.db import now

WEBHOOK, SLACK = "webhook", "slack"
INTEGRATION_MISSING = "integration not found"
TRIGGER_MISSING = "automation not found"


@dataclass(frozen=True)
class SecretInfo:
    name: str
    created_at: str


# Records built per listed row are plain slotted dataclasses: a frozen dataclass's
# __init__ costs several times more, which shows when pages of a hundred are built.
@dataclass(slots=True)
class Webhook:
    id: int
    entity_id: int
    name: str
    url_endpoint: str
    secret_ref: str | None
    access_token_ref: str | None
    created_at: str


@dataclass(slots=True)
class SlackIntegration:
    """A Slack channel a team may notify; made by an administrator (W&B uses OAuth)."""

    id: int
    entity_id: int
    slack_team: str
    channel_name: str
    created_at: str


Integration = Webhook | SlackIntegration


@dataclass(slots=True)
class TriggerRow:
    """A trigger joined with the names the GraphQL answer shows for its scope and action."""

    id: int
    entity_id: int
    name: str
    description: str | None
    enabled: bool
    scope_type: str
    scope_id: int
    scope_typename: str
    scope_name: str
    event_type: str
    event_filter: str
    action_type: str
    action_config: str
    webhook: Webhook | None
    slack: SlackIntegration | None
    created_at: str
    updated_at: str
    # The project a project or collection scope belongs to: (id, name, entity name).
    scope_project: tuple[int, str, str] | None = None
    # An ENTITY scope's kind of entity: `team` or `organization` (W&B's `entityType`).
    scope_entity_type: str = "team"


@dataclass(frozen=True)
class TriggerFields:
    """Everything a client sets on a trigger (the full set: updates send all of it)."""

    name: str
    description: str | None
    enabled: bool
    scope_type: str
    scope_id: int
    event_type: str
    event_filter: str
    action_type: str
    integration_id: int | None
    action_config: str


# ---- secrets ---------------------------------------------------------------


def put_secret(con: sqlite3.Connection, entity_id: int, name: str, ciphertext: bytes) -> None:
    """Store a secret; writing an existing name replaces its value (rotation)."""
    stamp = now()
    con.execute(
        "INSERT INTO secrets (entity_id, name, ciphertext, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (entity_id, name) "
        "DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        (entity_id, name, ciphertext, stamp, stamp),
    )


def list_secrets(con: sqlite3.Connection, entity_id: int) -> list[SecretInfo]:
    rows = con.execute(
        "SELECT name, created_at FROM secrets WHERE entity_id = ? ORDER BY name", (entity_id,)
    ).fetchall()
    return [SecretInfo(row["name"], row["created_at"]) for row in rows]


def has_secret(con: sqlite3.Connection, entity_id: int, name: str) -> bool:
    row = con.execute(
        "SELECT 1 FROM secrets WHERE entity_id = ? AND name = ?", (entity_id, name)
    ).fetchone()
    return row is not None


def secret_ciphertext(con: sqlite3.Connection, entity_id: int, name: str) -> bytes:
    row = con.execute(
        "SELECT ciphertext FROM secrets WHERE entity_id = ? AND name = ?", (entity_id, name)
    ).fetchone()
    if row is None:
        raise NotFound(f"secret {name!r} not found")
    return bytes(row["ciphertext"])


def delete_secret(con: sqlite3.Connection, entity_id: int, name: str) -> None:
    users = con.execute(
        "SELECT name FROM integrations WHERE entity_id = ? AND (secret_ref = ? "
        "OR access_token_ref = ?) ORDER BY name",
        (entity_id, name, name),
    ).fetchall()
    if users:
        names = ", ".join(row["name"] for row in users)
        raise Conflict(f"secret {name!r} is used by webhook(s) {names}")
    cur = con.execute("DELETE FROM secrets WHERE entity_id = ? AND name = ?", (entity_id, name))
    if cur.rowcount == 0:
        raise NotFound(f"secret {name!r} not found")


# ---- webhook integrations --------------------------------------------------


def _webhook(row: sqlite3.Row) -> Webhook:
    return Webhook(
        row["id"],
        row["entity_id"],
        row["name"],
        row["url_endpoint"],
        row["secret_ref"],
        row["access_token_ref"],
        row["created_at"],
    )


def create_webhook(
    con: sqlite3.Connection,
    entity_id: int,
    *,
    name: str,
    url_endpoint: str,
    secret_ref: str | None,
    access_token_ref: str | None,
) -> Webhook:
    if con.execute(
        "SELECT 1 FROM integrations WHERE entity_id = ? AND name = ?", (entity_id, name)
    ).fetchone():
        raise Conflict(f"a webhook named {name!r} already exists")
    cur = con.execute(
        "INSERT INTO integrations (entity_id, name, url_endpoint, secret_ref, access_token_ref, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (entity_id, name, url_endpoint, secret_ref, access_token_ref, now()),
    )
    return get_webhook(con, int(cur.lastrowid or 0))


def _integration_row(con: sqlite3.Connection, integration_id: int) -> sqlite3.Row:
    row = con.execute("SELECT * FROM integrations WHERE id = ?", (integration_id,)).fetchone()
    if row is None:
        raise NotFound(INTEGRATION_MISSING)
    return row  # type: ignore[no-any-return]


def get_integration(con: sqlite3.Connection, integration_id: int) -> Integration:
    row = _integration_row(con, integration_id)
    return _slack(row) if row["kind"] == SLACK else _webhook(row)


def get_webhook(con: sqlite3.Connection, webhook_id: int) -> Webhook:
    found = get_integration(con, webhook_id)
    if not isinstance(found, Webhook):
        raise InvalidInput("the integration is a Slack integration, not a webhook")
    return found


def update_webhook(con: sqlite3.Connection, webhook: Webhook) -> Webhook:
    clash = con.execute(
        "SELECT 1 FROM integrations WHERE entity_id = ? AND name = ? AND id != ?",
        (webhook.entity_id, webhook.name, webhook.id),
    ).fetchone()
    if clash:
        raise Conflict(f"a webhook named {webhook.name!r} already exists")
    con.execute(
        "UPDATE integrations SET name = ?, url_endpoint = ?, secret_ref = ?, "
        "access_token_ref = ? WHERE id = ?",
        (
            webhook.name,
            webhook.url_endpoint,
            webhook.secret_ref,
            webhook.access_token_ref,
            webhook.id,
        ),
    )
    return get_webhook(con, webhook.id)


def integrations_page(
    con: sqlite3.Connection, entity_id: int, after: int, limit: int
) -> list[Integration]:
    """Webhooks and Slack integrations of an entity, in creation order."""
    rows = con.execute(
        "SELECT * FROM integrations WHERE entity_id = ? AND id > ? ORDER BY id LIMIT ?",
        (entity_id, after, limit),
    ).fetchall()
    return [_slack(row) if row["kind"] == SLACK else _webhook(row) for row in rows]


def delete_integration(con: sqlite3.Connection, integration: Integration) -> None:
    """Delete a webhook or Slack integration that no automation uses."""
    users = con.execute(
        "SELECT name FROM triggers WHERE integration_id = ? ORDER BY name", (integration.id,)
    ).fetchall()
    if users:
        what = "webhook" if isinstance(integration, Webhook) else "Slack integration"
        names = ", ".join(row["name"] for row in users)
        raise Conflict(f"the {what} is used by automation(s) {names}")
    con.execute("DELETE FROM integrations WHERE id = ?", (integration.id,))


# ---- Slack integrations ----------------------------------------------------


def _slack(row: sqlite3.Row) -> SlackIntegration:
    return SlackIntegration(
        row["id"], row["entity_id"], row["slack_team"], row["channel_name"], row["created_at"]
    )


def ensure_slack(
    con: sqlite3.Connection, entity_id: int, channel: str, slack_team: str
) -> SlackIntegration:
    """The entity's integration for `channel`: the existing one as it is, or a new one."""
    row = con.execute(
        "SELECT id FROM integrations WHERE entity_id = ? AND kind = ? AND channel_name = ?",
        (entity_id, SLACK, channel),
    ).fetchone()
    if row is not None:
        return _slack(_integration_row(con, int(row["id"])))
    cur = con.execute(
        "INSERT INTO integrations (entity_id, kind, name, url_endpoint, slack_team, "
        "channel_name, created_at) VALUES (?, ?, ?, '', ?, ?, ?)",
        (entity_id, SLACK, f"slack:{channel}", slack_team, channel, now()),
    )
    return _slack(_integration_row(con, int(cur.lastrowid or 0)))


def set_slack_url(con: sqlite3.Connection, integration_id: int, sealed: bytes) -> None:
    """Store a Slack integration's incoming-webhook URL, already sealed by the SecretBox
    (the URL is a credential: kept encrypted, like secrets)."""
    con.execute(
        "UPDATE integrations SET sealed_url = ? WHERE id = ? AND kind = ?",
        (sealed, integration_id, SLACK),
    )


def slack_url_sealed(con: sqlite3.Connection, integration_id: int) -> bytes | None:
    """A Slack integration's sealed incoming-webhook URL, or None when none is set."""
    row = con.execute(
        "SELECT sealed_url FROM integrations WHERE id = ? AND kind = ?",
        (integration_id, SLACK),
    ).fetchone()
    return bytes(row["sealed_url"]) if row and row["sealed_url"] is not None else None


# ---- triggers --------------------------------------------------------------

# One query yields everything a trigger's GraphQL answer shows, so listing a page
# costs one SQL statement, not one per trigger and nested object.
_TRIGGER_SQL = """
SELECT t.id, t.entity_id, t.name, t.description, t.enabled, t.scope_type, t.scope_id,
  CASE t.scope_type
    WHEN 'PROJECT' THEN 'Project'
    WHEN 'ENTITY' THEN 'Entity'
    WHEN 'ARTIFACT_COLLECTION' THEN
      CASE WHEN cp.name LIKE 'wandb-registry-%' THEN 'ArtifactPortfolio'
           ELSE 'ArtifactSequence' END
  END,
  COALESCE(p.name, c.name, e.name, ''),
  t.event_type, t.event_filter, t.action_type, t.action_config, t.created_at, t.updated_at,
  i.kind, i.id, i.entity_id, i.name, i.url_endpoint, i.secret_ref, i.access_token_ref,
  i.created_at, i.slack_team, i.channel_name,
  COALESCE(p.id, cp.id), COALESCE(p.name, cp.name), pe.name, COALESCE(e.entity_type, 'team')
FROM triggers t
LEFT JOIN projects p ON t.scope_type = 'PROJECT' AND p.id = t.scope_id
LEFT JOIN collections c ON t.scope_type = 'ARTIFACT_COLLECTION' AND c.id = t.scope_id
LEFT JOIN projects cp ON cp.id = c.project_id
LEFT JOIN entities e ON t.scope_type = 'ENTITY' AND e.id = t.scope_id
LEFT JOIN integrations i ON i.id = t.integration_id
LEFT JOIN entities pe ON pe.id = COALESCE(p.entity_id, cp.entity_id)
"""


def _select_triggers(
    con: sqlite3.Connection, where: str, params: tuple[Any, ...]
) -> list[TriggerRow]:
    # Plain tuples: `sqlite3.Row` finds each column by a name scan, which costs more
    # than the query when a page of a hundred triggers is built.
    cursor = con.cursor()
    cursor.row_factory = None
    return [_trigger(row) for row in cursor.execute(_TRIGGER_SQL + where, params)]


def _trigger(row: tuple[Any, ...]) -> TriggerRow:
    (id_, entity_id, name, description, enabled, scope_type, scope_id, scope_typename) = row[:8]
    (scope_name, event_type, event_filter, action_type, action_config) = row[8:13]
    (created_at, updated_at, kind, i_id, i_entity_id, i_name, i_url) = row[13:20]
    (i_secret_ref, i_token_ref, i_created_at, i_slack_team, i_channel) = row[20:25]
    project_id, project_name, project_entity = row[25:28]
    scope_project = (project_id, project_name, project_entity) if project_id is not None else None
    webhook, slack = None, None
    if kind == SLACK:
        slack = SlackIntegration(i_id, i_entity_id, i_slack_team, i_channel, i_created_at)
    elif i_id is not None:
        webhook = Webhook(i_id, i_entity_id, i_name, i_url, i_secret_ref, i_token_ref, i_created_at)
    return TriggerRow(
        id_,
        entity_id,
        name,
        description,
        bool(enabled),
        scope_type,
        scope_id,
        scope_typename,
        scope_name,
        event_type,
        event_filter,
        action_type,
        action_config,
        webhook,
        slack,
        created_at,
        updated_at,
        scope_project,
        row[28],
    )


def _check_name_free(con: sqlite3.Connection, entity_id: int, name: str, own_id: int) -> None:
    row = con.execute(
        "SELECT 1 FROM triggers WHERE entity_id = ? AND name = ? AND id != ?",
        (entity_id, name, own_id),
    ).fetchone()
    if row:
        raise DuplicateTrigger(f"an automation named {name!r} already exists")


def create_trigger(
    con: sqlite3.Connection, entity_id: int, fields: TriggerFields, created_by: int
) -> TriggerRow:
    _check_name_free(con, entity_id, fields.name, 0)
    stamp = now()
    cur = con.execute(
        "INSERT INTO triggers (entity_id, name, description, enabled, scope_type, scope_id, "
        "event_type, event_filter, action_type, integration_id, action_config, created_by, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (entity_id, *_values(fields), created_by, stamp, stamp),
    )
    return get_trigger(con, int(cur.lastrowid or 0))


def update_trigger(
    con: sqlite3.Connection, trigger_id: int, entity_id: int, fields: TriggerFields
) -> TriggerRow:
    """Rewrite a trigger; `entity_id` is its owner after the update (a move to a scope
    of another entity, such as a team's collection to a registry, changes it)."""
    get_trigger(con, trigger_id)
    _check_name_free(con, entity_id, fields.name, trigger_id)
    con.execute(
        "UPDATE triggers SET name = ?, description = ?, enabled = ?, scope_type = ?, "
        "scope_id = ?, event_type = ?, event_filter = ?, action_type = ?, integration_id = ?, "
        "action_config = ?, entity_id = ?, updated_at = ? WHERE id = ?",
        (*_values(fields), entity_id, now(), trigger_id),
    )
    return get_trigger(con, trigger_id)


def _values(fields: TriggerFields) -> tuple[Any, ...]:
    return (
        fields.name,
        fields.description,
        int(fields.enabled),
        fields.scope_type,
        fields.scope_id,
        fields.event_type,
        fields.event_filter,
        fields.action_type,
        fields.integration_id,
        fields.action_config,
    )


def get_trigger(con: sqlite3.Connection, trigger_id: int) -> TriggerRow:
    found = _select_triggers(con, "WHERE t.id = ?", (trigger_id,))
    if not found:
        raise MissingTrigger(TRIGGER_MISSING)
    return found[0]


def delete_trigger(con: sqlite3.Connection, trigger_id: int) -> None:
    if con.execute("DELETE FROM triggers WHERE id = ?", (trigger_id,)).rowcount == 0:
        raise MissingTrigger(TRIGGER_MISSING)


def triggers_page(
    con: sqlite3.Connection,
    entity_id: int,
    after: int,
    limit: int,
    name: str | None = None,
    *,
    hidden: list[int] | None = None,
) -> list[TriggerRow]:
    """Triggers of an entity in creation order, optionally only the one with `name`,
    leaving out those scoped to a `hidden` project (or to its collections)."""
    where = "WHERE t.entity_id = ? AND t.id > ?"
    params: list[Any] = [entity_id, after]
    if hidden:
        marks = ",".join("?" * len(hidden))
        where += f" AND COALESCE(p.id, cp.id, 0) NOT IN ({marks})"
        params += hidden
    if name is not None:
        where += " AND t.name = ?"
        params.append(name)
    return _select_triggers(con, where + " ORDER BY t.id LIMIT ?", (*params, limit))


def triggers_in_project(
    con: sqlite3.Connection, project_id: int, limit: int = -1
) -> list[TriggerRow]:
    """Triggers scoped to a project or to one of its collections (the legacy walk);
    the first `limit` of them when it is not negative."""
    return _select_triggers(
        con,
        "WHERE (t.scope_type = 'PROJECT' AND t.scope_id = ?) "
        "OR (t.scope_type = 'ARTIFACT_COLLECTION' AND c.project_id = ?) ORDER BY t.id LIMIT ?",
        (project_id, project_id, limit),
    )


def count_triggers_in_project(con: sqlite3.Connection, project_id: int) -> int:
    """How many triggers `triggers_in_project` would list (counted, none read)."""
    row = con.execute(
        "SELECT (SELECT COUNT(*) FROM triggers WHERE scope_type = 'PROJECT' AND scope_id = ?)"
        " + (SELECT COUNT(*) FROM triggers t JOIN collections c ON c.id = t.scope_id"
        " WHERE t.scope_type = 'ARTIFACT_COLLECTION' AND c.project_id = ?)",
        (project_id, project_id),
    ).fetchone()
    return int(row[0])


def triggers_for_event(
    con: sqlite3.Connection,
    project_id: int,
    collection_id: int | None,
    event_types: list[str],
    ids: Sequence[int] | None = None,
) -> list[TriggerRow]:
    """Enabled triggers an event in the project (and collection) may fire, by the index;
    with `ids`, only those of them (the ones a write changed).

    An ENTITY scope sees every project of its entity, present and future: a team's
    projects for a team, the registries for an organization's entity. Each of the three
    scopes is one lookup in `triggers_match` (SQLite's OR-by-union), so automations of
    other scopes and event types are never read.
    """
    marks = ", ".join("?" * len(event_types))
    only = "" if ids is None else "AND t.id IN (SELECT value FROM json_each(?)) "
    where = (
        f"WHERE t.enabled = 1 AND t.event_type IN ({marks}) {only}AND ("
        "(t.scope_type = 'PROJECT' AND t.scope_id = ?) "
        "OR (t.scope_type = 'ARTIFACT_COLLECTION' AND t.scope_id = ?) "
        "OR (t.scope_type = 'ENTITY' AND t.scope_id = "
        "(SELECT entity_id FROM projects WHERE id = ?))) ORDER BY t.id"
    )
    chosen = () if ids is None else (json.dumps(list(ids)),)
    params = (*event_types, *chosen, project_id, collection_id or 0, project_id)
    return _select_triggers(con, where, params)

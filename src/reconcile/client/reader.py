"""Read a server's state for some entities: paginated, concurrent, and never "empty" on failure.

`Reader` has no method that writes; planning holds only a Reader, so a plan cannot
mutate anything by construction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from reconcile.client import operations as ops
from reconcile.client.transport import Transport
from reconcile.core import features as server_features
from reconcile.core import ownership
from reconcile.core.errors import ServerError
from reconcile.core.model import (
    REGISTRY_PREFIX,
    Automation,
    EnvUrl,
    Event,
    Remote,
    ResourceKey,
    Scope,
    Secret,
    State,
    Webhook,
)
from reconcile.core.ownership import LOCK_NAME
from reconcile.core.wire import decode_action, decode_event

ScopeRef = tuple[str, str, str | None]  # entity, project, collection
ENTITY_TRIGGERS_FEATURE = "QUERY_AUTOMATIONS_ON_ENTITY"


@dataclass
class Lookup:
    """Server identifiers the writer needs, found while reading."""

    ids: dict[ResourceKey, str] = field(default_factory=dict)
    scopes: dict[ScopeRef, tuple[str, str]] = field(default_factory=dict)
    slack: dict[tuple[str, str], str] = field(default_factory=dict)
    missing_scopes: list[ScopeRef] = field(default_factory=list)
    # Team -> the entity of its organization, which holds the registries.
    org_entities: dict[str, str] = field(default_factory=dict)
    # Automations kept in another entity than their key's (a registry's: the org entity).
    owners: dict[ResourceKey, str] = field(default_factory=dict)
    # An organization's entity -> its id (the scope of organization-wide automations).
    org_ids: dict[str, str] = field(default_factory=dict)

    def owner(self, auto: Automation) -> str:
        """The entity whose automations include `auto` on the server."""
        if auto.scope.organization is not None:
            return auto.scope.organization
        if auto.scope.registry is not None and auto.entity in self.org_entities:
            return self.org_entities[auto.entity]
        return auto.entity

    def scope_of(self, auto: Automation) -> tuple[str, str] | None:
        """The scope type and id `auto` listens in; None when the server has none such
        (an organization scope: only the organization of the automation's team)."""
        organization = auto.scope.organization
        if organization is None:
            return self.scopes.get((auto.entity, auto.scope.project, auto.scope.collection))
        if self.org_entities.get(auto.entity) != organization:
            return None
        ident = self.org_ids.get(organization)
        return ("ENTITY", ident) if ident else None

    def collection_projects(self) -> dict[str, str]:
        """Collection id -> the name of its project, for the collections looked up."""
        return {
            ident: project
            for (_, project, collection), (_, ident) in self.scopes.items()
            if collection is not None
        }


class Reader:
    """Reads state through a Transport; `concurrency` bounds the requests in flight."""

    def __init__(
        self, transport: Transport, concurrency: int = 8, entity_triggers: bool | None = None
    ) -> None:
        self.transport = transport
        self._gate = asyncio.Semaphore(concurrency)
        # Whether the server lists triggers per entity; None: ask it (its feature flags).
        self._entity_triggers = entity_triggers
        self._features: frozenset[str] | None = None

    async def _run(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        async with self._gate:
            return await self.transport.execute(document, variables)

    async def read(
        self, entities: Iterable[str], scopes: Iterable[ScopeRef]
    ) -> tuple[State, Lookup]:
        """Everything reconcile manages in `entities`, and the ids of `scopes`."""
        lookup = Lookup()
        scopes = set(scopes)
        entity_list = sorted(set(entities))
        asked = sorted(set(entity_list) | {e for e, _, _ in scopes})
        found = await asyncio.gather(*(self._org_of(e, lookup) for e in asked))
        lookup.org_entities = {e: org for e, org in zip(asked, found, strict=True) if org}
        projects = sorted({(e, p) for e, p, _ in scopes})
        await asyncio.gather(*(self._project(e, p, lookup) for e, p in projects))
        per_entity = await asyncio.gather(*(self._entity(e, lookup) for e in entity_list))
        lookup.missing_scopes = sorted(
            (s for s in scopes if s not in lookup.scopes),
            key=lambda s: (s[0], s[1], s[2] or ""),
        )
        resources = [remote for group in per_entity for remote in group]
        resources += await self._registry_triggers(entity_list, lookup)
        return State(tuple(resources)), lookup

    async def org_entity(self, entity: str) -> str | None:
        """The entity of `entity`'s organization, resolved as the SDK does (`api.registry`):
        the team's organization, else the one organization of a personal entity's user."""
        return await self._org_of(entity, Lookup())

    async def _org_of(self, entity: str, lookup: Lookup) -> str | None:
        """`org_entity`, noting the organization entity's id in `lookup` when given."""
        data = await self._run(ops.ORG_INFO_FROM_ENTITY, {"entity": entity})
        node = data.get("entity") or {}
        own = (node.get("organization") or {}).get("orgEntity") or {}
        orgs = [own] if own.get("name") else []
        if not orgs:
            listed = (node.get("user") or {}).get("organizations") or []
            orgs = [o["orgEntity"] for o in listed if o.get("orgEntity")]
        names = sorted({str(org["name"]) for org in orgs})
        if len(names) > 1:
            raise ServerError(
                f"entity {entity!r} belongs to several organizations ({', '.join(names)}); "
                "name a team entity, whose organization is unique"
            )
        for org in orgs:
            if org.get("id"):
                lookup.org_ids[str(org["name"])] = str(org["id"])
        return names[0] if names else None

    async def _registry_triggers(self, teams: list[str], lookup: Lookup) -> list[Remote]:
        """The registry automations of the teams' organizations, each under the team whose
        webhook or Slack channel it calls (one without an integration: the first team)."""
        users = {ident: key.entity for key, ident in lookup.ids.items() if key.kind == "webhook"}
        users |= {ident: team for (team, _), ident in lookup.slack.items()}
        projects = lookup.collection_projects()
        remotes: list[Remote] = []
        for org in sorted({lookup.org_entities[t] for t in teams if t in lookup.org_entities}):
            members = [t for t in teams if lookup.org_entities.get(t) == org]
            for node in await self._triggers(org):
                integration = ((node.get("action") or {}).get("integration") or {}).get("id")
                team = users.get(integration) if integration else members[0]
                remote = _trigger(team or "", node, projects)
                if team not in members or not isinstance(remote.value, Automation):
                    continue  # another team's, or not a registry's: not ours to manage
                scope = remote.value.scope
                if (scope.registry or scope.organization) is None or remote.key in lookup.ids:
                    continue  # the organization's entity holds registry-wide ones
                lookup.ids[remote.key] = node["id"]
                lookup.owners[remote.key] = org
                remotes.append(remote)
        return remotes

    async def _entity(self, entity: str, lookup: Lookup) -> list[Remote]:
        integrations, secrets, triggers = await asyncio.gather(
            self._pages(ops.INTEGRATIONS, entity, ("entity", "integrations")),
            self._run(ops.SECRETS, {"entity": entity}),
            self._triggers(entity),
        )
        webhooks = []
        for node in integrations:
            if node.get("__typename") == "SlackIntegration":
                lookup.slack[(entity, node.get("channelName") or "")] = node["id"]
            elif node.get("__typename") == "GenericWebhookIntegration":
                if node.get("name") == LOCK_NAME:
                    continue  # the apply lock is not an object of the inventory
                webhooks.append(_webhook(entity, node))
        for remote in webhooks:
            lookup.ids[remote.key] = remote.id or ""
        entity_data = secrets.get("entity")
        if entity_data is None:
            raise ServerError(_missing_entity(entity))
        if entity_data.get("id"):  # the scope of team-wide automations
            lookup.scopes[(entity, "", None)] = ("ENTITY", entity_data["id"])
        remotes = [*_secrets(entity, entity_data.get("secrets") or [], webhooks), *webhooks]
        projects = lookup.collection_projects()
        for node in triggers:
            remote = _trigger(entity, node, projects)
            lookup.ids[remote.key] = node["id"]
            remotes.append(remote)
        return remotes

    async def _pages(
        self, document: str, entity: str, path: tuple[str, str], per_page: int = ops.PAGE_SIZE
    ) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = []
        cursor: str | None = None
        seen: set[str | None] = set()
        while True:
            _advance(seen, cursor, entity)
            data = await self._run(
                document, {"entity": entity, "cursor": cursor, "perPage": per_page}
            )
            holder = data.get(path[0])
            if holder is None:
                raise ServerError(_missing_entity(entity))
            connection = holder[path[1]]
            nodes.extend(edge["node"] for edge in connection["edges"] if edge.get("node"))
            info = connection["pageInfo"]
            if not info["hasNextPage"]:
                return nodes
            cursor = info["endCursor"]

    async def find_webhook(self, entity: str, name: str) -> dict[str, Any] | None:
        """One generic webhook integration of the entity by name, or None."""
        nodes = await self._pages(ops.INTEGRATIONS, entity, ("entity", "integrations"))
        for node in nodes:
            if node.get("name") == name and node.get("__typename") == "GenericWebhookIntegration":
                return dict(node)
        return None

    async def features(self) -> frozenset[str]:
        """The names of the features the server enables, asked once per Reader."""
        if self._features is None:
            data = await self._run(ops.SERVER_FEATURES, {})
            listed = ((data.get("serverInfo") or {}).get("features")) or []
            self._features = frozenset(
                str(f["name"]) for f in listed if f and f.get("name") and f.get("isEnabled")
            )
        return self._features

    async def entity_triggers(self) -> bool:
        """Whether the server lists an entity's triggers directly (else per project)."""
        if self._entity_triggers is None:
            self._entity_triggers = ENTITY_TRIGGERS_FEATURE in await self.features()
        return self._entity_triggers

    async def trigger_page_size(self) -> int:
        """Pages of 1,000 automations from a server that says it answers them (one run by
        `reconcile serve`): 10 requests for 10,000 instead of 100. Else pages of 100."""
        if server_features.LARGE_PAGES in await self.features():
            return server_features.LARGE_PAGE_SIZE
        return ops.PAGE_SIZE

    async def _triggers(self, entity: str) -> list[dict[str, Any]]:
        if await self.entity_triggers():
            size = await self.trigger_page_size()
            return await self._pages(ops.ENTITY_TRIGGERS, entity, ("entity", "triggers"), size)
        projects = await self._pages(ops.ENTITY_TRIGGERS_LEGACY, entity, ("entity", "projects"))
        return [trigger for project in projects for trigger in project.get("triggers") or []]

    async def find_trigger(self, entity: str, name: str) -> dict[str, Any] | None:
        """One trigger of the entity by name (W&B's `filters` argument), or None."""
        if not await self.entity_triggers():
            found = [t for t in await self._triggers(entity) if t.get("name") == name]
            return dict(found[0]) if found else None
        variables = {"entity": entity, "filters": filters_by_name(name)}
        data = await self._run(ops.TRIGGER_BY_NAME, variables)
        edges = ((data.get("entity") or {}).get("triggers") or {}).get("edges") or []
        for edge in edges:
            node = edge.get("node") or {}
            if node.get("name") == name:
                return dict(node)
        return None

    async def _project(self, entity: str, project: str, lookup: Lookup) -> None:
        """The ids of a project (a registry: in the team's org entity) and its collections."""
        owner = entity
        if project.startswith(REGISTRY_PREFIX):
            if entity not in lookup.org_entities:
                return  # no organization, so no registry: reported as a missing scope
            owner = lookup.org_entities[entity]
        cursor: str | None = None
        seen: set[str | None] = set()
        while True:
            _advance(seen, cursor, entity)
            variables = {
                "entity": owner,
                "name": project,
                "cursor": cursor,
                "perPage": ops.PAGE_SIZE,
            }
            found = (await self._run(ops.PROJECT, variables)).get("project")
            if found is None:
                return
            lookup.scopes[(entity, project, None)] = ("PROJECT", found["id"])
            connection = found.get("artifactCollections") or {"edges": [], "pageInfo": {}}
            for edge in connection["edges"]:
                node = edge.get("node") or {}
                lookup.scopes[(entity, project, node["name"])] = ("ARTIFACT_COLLECTION", node["id"])
            if not connection["pageInfo"].get("hasNextPage"):
                return
            cursor = connection["pageInfo"]["endCursor"]


def _advance(seen: set[str | None], cursor: str | None, entity: str) -> None:
    """Refuse a cursor already visited: a server that loops would otherwise never end."""
    if cursor in seen:
        raise ServerError(f"the server's pages for entity {entity!r} do not advance")
    seen.add(cursor)


def masked(url: str) -> bool:
    """True for the form a webhook's URL takes for a reader who is not an admin of its
    team: its scheme, host and port, then `/***` for the path and query it hides."""
    parts = urlsplit(url)
    return bool(parts.scheme and parts.netloc) and parts.path == "/***" and not parts.query


def _webhook(entity: str, node: dict[str, Any]) -> Remote:
    marked = ownership.read_url(node["urlEndpoint"])
    hook = Webhook(
        entity=entity,
        name=node["name"],
        url=EnvUrl(*marked.env_url) if marked.env_url else marked.text,
        access_token=node.get("accessTokenRef") or None,
        secret=node.get("secretRef") or None,
        rotations=marked.rotations,
    )
    hidden = marked.env_url is None and masked(marked.text)
    return Remote(
        hook, id=node["id"], managed=marked.managed, url_masked=hidden, applied=marked.applied
    )


def _secrets(entity: str, rows: list[dict[str, Any]], webhooks: list[Remote]) -> list[Remote]:
    recorded: dict[str, list[int]] = {}
    for remote in webhooks:
        hook = remote.value
        if not remote.managed or not isinstance(hook, Webhook):
            continue
        counters = dict(hook.rotations)
        for name in {hook.access_token, hook.secret} - {None}:
            recorded.setdefault(str(name), []).append(counters.get(str(name), 0))
    out = []
    for row in rows:
        name = row["name"]
        rotation = min(recorded[name]) if name in recorded else 0
        out.append(Remote(Secret(entity, name, "", rotation), managed=name in recorded))
    return out


def _trigger(entity: str, node: dict[str, Any], projects: dict[str, str]) -> Remote:
    marked = ownership.read_description(node.get("description"))
    event = node.get("event") or {}
    auto = Automation(
        entity=entity,
        name=node["name"],
        scope=_scope(node.get("scope") or {}, projects),
        event=_event(event.get("eventType", ""), event.get("filter")),
        action=decode_action(node.get("action") or {}),
        description=marked.text,
        enabled=bool(node.get("enabled")),
        protect=marked.protected,
    )
    representable = not (
        auto.event.kind.startswith("unsupported:")
        or auto.action.kind.startswith("unsupported:")
        or not (auto.scope.project or auto.scope.team or auto.scope.organization)
    )
    return Remote(
        auto,
        id=node["id"],
        managed=marked.managed and representable,
        protected=marked.protected,
        applied=marked.applied,
    )


# An entity's automations share a few filters (10,000 read, a handful of texts): each
# text is decoded once. What is cached is never handed out: each automation gets its
# own copy of the parameters (YAML written from shared values would show anchors).
@lru_cache(maxsize=4096)
def _decoded_event(wire_type: str, raw_filter: str | None) -> Event:
    return decode_event(wire_type, raw_filter)


def _event(wire_type: Any, raw_filter: Any) -> Event:
    if isinstance(wire_type, str) and (raw_filter is None or isinstance(raw_filter, str)):
        decoded = _decoded_event(wire_type, raw_filter)
        return Event(decoded.kind, _fresh(dict(decoded.params)))
    return decode_event(wire_type, raw_filter)


def _fresh(value: Any) -> Any:
    """A copy of a JSON-like value, down to its leaves (strings, numbers: immutable)."""
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fresh(item) for item in value]
    return value


def _scope(node: dict[str, Any], projects: dict[str, str]) -> Scope:
    """The scope of a trigger; a collection's project from the answer, else from `projects`."""
    typename = node.get("__typename")
    if typename == "Project":
        return Scope(node["name"])
    if typename in ("ArtifactPortfolio", "ArtifactSequence"):
        project = (node.get("project") or {}).get("name") or projects.get(node["id"], "")
        return Scope(project, node["name"])
    if typename == "Entity" and node.get("entityType") in ("team", None) and node.get("name"):
        return Scope("", team=node["name"])
    if typename == "Entity" and node.get("entityType") == "organization" and node.get("name"):
        return Scope("", organization=node["name"])
    return Scope("")


def filters_by_name(name: str) -> str:
    """The `filters` argument that selects one trigger by name."""
    return json.dumps({"name": name})


def _missing_entity(entity: str) -> str:
    # Servers answer null for a team the key's user is not in, as for one that is not there.
    return (
        f"entity {entity!r} not found on the server, or the API key's user is not a member "
        f"of it (on a server run by `reconcile serve`: `reconcile server --db DB create-team "
        f"{entity}`, then `reconcile server --db DB set-role {entity} USER admin`)"
    )

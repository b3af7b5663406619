"""Which server to talk to: W&B (or any URL) over HTTP, or the embedded server in-process.

`--server URL`, else RECONCILE_SERVER, else WANDB_BASE_URL selects a remote server,
with the API key from WANDB_API_KEY. With none of them, the embedded server runs
in-process on `.reconcile/server.db` in the project root (see inventory/project.py), created on
first use with an admin key kept next to it (0600), so a fresh checkout can plan and
apply with nothing installed.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from reconcile.client.reader import ScopeRef
from reconcile.client.transport import RetryPolicy, Transport, basic_auth
from reconcile.core.errors import ServerError, UsageError
from reconcile.core.model import REGISTRY_PREFIX, Inventory
from reconcile.core.urls import server_base
from reconcile.inventory import project, roots
from reconcile.inventory.schema import did_you_mean

if TYPE_CHECKING:
    from reconcile.server.admin.tasks import Absent
    from reconcile.server.store.db import Database

DEFAULT_DB = Path(".reconcile/server.db")
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class Target:
    """A server: a remote URL with a key, or the embedded database at `db`."""

    url: str | None
    api_key: str | None = None
    db: Path = DEFAULT_DB

    @property
    def embedded(self) -> bool:
        return self.url is None

    def describe(self) -> str:
        return self.url if self.url else f"the embedded server ({project.shown(self.db)})"


def choose(server: str | None, db: Path | None, env: Mapping[str, str]) -> Target:
    """The target the options and environment ask for; UsageError when incomplete.

    With an inventory of reconcile.yaml chosen, its server and key variable stand in for
    RECONCILE_SERVER, WANDB_BASE_URL and WANDB_API_KEY."""
    chosen = roots.active()
    if chosen is not None:
        url = server or chosen.server
        key_env, of = chosen.key_env, f" (inventory {chosen.name} in {roots.PROJECT_FILE})"
    else:
        url = server or env.get("RECONCILE_SERVER") or env.get("WANDB_BASE_URL")
        key_env, of = "WANDB_API_KEY", ""
    if url is None:
        return Target(None, db=db or project.default_db())
    if db is not None:
        raise UsageError(
            "--db selects the embedded server; it cannot be combined with a server URL"
        )
    key = env.get(key_env)
    if not key:
        raise UsageError(f"set {key_env} to an API key for {url}{of}")
    return Target(server_base(url), api_key=key)


@asynccontextmanager
async def connect(target: Target, policy: RetryPolicy | None = None) -> AsyncIterator[Transport]:
    """A Transport to the target, closed on exit."""
    if target.url is not None:
        headers = {"Authorization": basic_auth(target.api_key or "")}
        async with httpx.AsyncClient(
            base_url=target.url, headers=headers, timeout=TIMEOUT, verify=tls(target.url)
        ) as client:
            yield Transport(client, policy)
        return
    from reconcile.server.app import create_app

    key = embedded_key(target.db)
    app = create_app(target.db)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": basic_auth(key)}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://embedded", headers=headers, timeout=TIMEOUT
        ) as client:
            yield Transport(client, policy)
    finally:
        app.state.service.close()


def tls(url: str) -> ssl.SSLContext | bool:
    """httpx's default TLS (certifi's authorities: 25-60 ms of CPU to load) for an https
    server. An http:// one never negotiates TLS (requests go to the base URL's
    `/graphql`, redirects are not followed): it gets a context that trusts no authority,
    built without loading any, so TLS there, were it ever tried, would fail closed."""
    if urlsplit(url).scheme.lower() == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


def embedded_key(db_path: Path) -> str:
    """The embedded server's admin key: created with the database, kept beside it (0600)."""
    from reconcile.server.admin import tasks as admin
    from reconcile.server.store.db import Database

    key_file = db_path.with_name(db_path.name + ".admin-key")
    db = Database(db_path)
    try:
        env_key = os.environ.get(admin.ADMIN_KEY_ENV) or None
        made = admin.bootstrap(db, key=env_key)
        if made.api_key is not None:
            admin.write_key_file(key_file, made.api_key)
            return made.api_key
        if env_key:
            return env_key
        if key_file.exists():
            kept = key_file.read_text("utf-8").strip()
            if admin.key_is_active(db, kept):
                return kept
            # Revoked (`reconcile server delete-key`): this process owns the database.
        key = admin.create_api_key(db, made.username, "reconcile")
        admin.write_key_file(key_file, key)
        return key
    finally:
        db.close()


def scopes_of(inventory: Inventory) -> list[ScopeRef]:
    """Every project, registry and collection the inventory's automations listen in."""
    found = {
        (a.entity, a.scope.project, a.scope.collection)
        for a in inventory.automations
        if not (a.scope.team or a.scope.organization)  # an entity scope: the entity itself
    }
    return sorted(found, key=lambda s: (s[0], s[1], s[2] or ""))


def prepare_embedded(
    target: Target, inventory: Inventory, scopes: Iterable[ScopeRef], *, create: bool = True
) -> tuple[ScopeRef, ...]:
    """Create the teams and Slack channels the inventory names (embedded only), and,
    with `create`, its projects, registries and collections; return the scopes that
    were missing (plan reports them, apply creates them)."""
    from reconcile.server.admin import tasks as admin
    from reconcile.server.errors import ApiError
    from reconcile.server.store.db import Database

    embedded_key(target.db)  # bootstraps the admin on first use
    db = Database(target.db)
    try:
        for entity in inventory.entities:
            admin.ensure_team(db, entity)
            admin.set_role(db, entity, admin.DEFAULT_ADMIN, "admin")
        for auto in inventory.automations:
            if auto.action.kind == "slack":
                admin.ensure_slack_integration(db, auto.entity, auto.action.params["channel"])
        absent = admin.absent_scopes(db, list(scopes))
        if create:
            _create_scopes(db, absent)
    except ApiError as error:
        raise ServerError(f"cannot prepare {target.describe()}: {error.message}") from None
    finally:
        db.close()
    return tuple((a.entity, a.project, a.collection) for a in absent)


def _create_scopes(db: Database, absent: Iterable[Absent]) -> None:
    from reconcile.server.admin import tasks as admin

    for scope in absent:  # a project comes before its collections
        if scope.collection is not None:
            admin.ensure_collection(db, scope.entity, scope.project, scope.collection)
        elif scope.project.startswith(REGISTRY_PREFIX):
            admin.ensure_registry(db, scope.entity, scope.project)
        else:
            admin.ensure_project(db, scope.entity, scope.project)


def scope_name(scope: ScopeRef) -> str:
    """`project e/p`, `registry e/r`, or `collection c in ...`, as a user writes them."""
    entity, project, collection = scope
    where = f"project {entity}/{project}"
    if project.startswith(REGISTRY_PREFIX):
        where = f"registry {entity}/{project[len(REGISTRY_PREFIX) :]}"
    return f"collection {collection} in {where}" if collection else where


def creations(target: Target, scopes: Iterable[ScopeRef]) -> list[str]:
    """Each scope the embedded server will create, with a "did you mean" against the
    names of its kind that exist (a typo in the YAML is otherwise created silently)."""
    wanted = list(scopes)
    if not wanted:
        return []  # without importing the server (a plan over HTTP has nothing here)
    from reconcile.server.admin import tasks as admin
    from reconcile.server.store.db import Database

    db = Database(target.db)
    try:
        absent = {(a.entity, a.project, a.collection): a for a in admin.absent_scopes(db, wanted)}
    finally:
        db.close()
    return [scope_name(s) + _meant(s, absent.get(s)) for s in wanted]


def _meant(scope: ScopeRef, absent: Absent | None) -> str:
    if absent is None:
        return ""
    _, project, collection = scope
    if collection is not None:
        return did_you_mean(collection, list(absent.existing))
    short = [n[len(REGISTRY_PREFIX) :] for n in absent.existing if n.startswith(REGISTRY_PREFIX)]
    if project.startswith(REGISTRY_PREFIX):
        return did_you_mean(project[len(REGISTRY_PREFIX) :], short)
    return did_you_mean(project, list(absent.existing))


def headline(
    target: Target, entities: Iterable[str], creates: Iterable[str] = (), bullet: str = "  "
) -> str:
    """The line every plan and apply starts with: which server, which entities; then
    what the embedded server creates for the inventory, one line each (`bullet`: "- "
    in Markdown)."""
    names = ", ".join(entities) or "none"
    chosen = roots.active()
    of = f"; inventory {chosen.name} ({chosen.shown()})" if chosen is not None else ""
    lines = [f"Target: {target.describe()}; entities: {names}{of}"]
    made = list(creates)
    if made:
        lines.append(f"The embedded server will create {len(made)} (check the names):")
        lines += [f"{bullet}{line}" for line in made]
    return "\n".join(lines)


def as_json(
    target: Target, entities: Iterable[str], creates: Iterable[str] = ()
) -> dict[str, object]:
    """The same, for the JSON plan (outside the fingerprint: it names, not decides)."""
    where = {"server": target.url} if target.url else {"embedded": project.shown(target.db)}
    made = list(creates)
    return {
        **where,
        "entities": list(entities),
        **({"creates": made} if made else {}),
        **inventory_json(),
    }


def inventory_json() -> dict[str, object]:
    """Which inventory was planned, when that is not simply `automations/`: the chosen
    inventory of reconcile.yaml, or None when the project has no inventory folder."""
    chosen = roots.active()
    if chosen is not None:
        return {"env": chosen.name, "inventory": chosen.shown()}
    if not project.inventory_dir().is_dir():
        return {"inventory": None}
    return {}

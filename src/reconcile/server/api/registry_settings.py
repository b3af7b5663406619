"""A registry's settings in an `upsertModel` input: visibility (`access`) and accepted
artifact types, checked, and who may change them (W&B's registry roles)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from reconcile.server.api import validation
from reconcile.server.errors import Forbidden, InvalidInput
from reconcile.server.store import registries
from reconcile.server.store.teams import Project, User

MAX_TYPES = 100
RESERVED_TYPE_PREFIX = "wandb-"  # W&B's internal types (the SDK refuses them too)


@dataclass(frozen=True)
class Settings:
    """What the input asks of a registry: None where it is silent."""

    access: str | None
    allow_all_types: bool | None
    types: tuple[str, ...]


def read(input: dict[str, Any]) -> Settings:
    access = input.get("access")
    if access is not None and access not in registries.ACCESS:
        raise InvalidInput(
            f"invalid access {access!r} for a registry: PRIVATE (organization) or RESTRICTED"
        )
    types = [check_type(t["name"]) for t in input.get("artifactTypes") or []]
    if len(set(types)) > MAX_TYPES:
        raise InvalidInput(f"a registry accepts at most {MAX_TYPES} artifact types")
    return Settings(
        access, input.get("allowAllArtifactTypesInRegistry"), tuple(dict.fromkeys(types))
    )


def check_type(name: str) -> str:
    validation.check_name(
        "artifact type", name, validation.COLLECTION_NAME_RE, "letters, digits, '-_.'"
    )
    if name.startswith(RESERVED_TYPE_PREFIX):
        raise InvalidInput(f"artifact type {name!r} is reserved for internal use")
    return name


def create(con: sqlite3.Connection, project: Project, settings: Settings) -> Project:
    """A new registry's settings: without types it accepts every type, as the SDK asks."""
    allow_all = settings.allow_all_types
    if allow_all is None:
        allow_all = not settings.types
    return registries.save(
        con,
        project,
        description=project.description,
        access=settings.access or "PRIVATE",
        allow_all_types=allow_all,
        new_types=list(settings.types),
    )


def save(
    con: sqlite3.Connection, user: User, project: Project, description: str | None, wanted: Settings
) -> Project:
    """Apply what differs; an unchanged registry comes back as it is, to any reader."""
    saved = set(registries.artifact_types(con, project))
    new_types = [t for t in wanted.types if t not in saved]
    access = wanted.access or project.access
    allow_all = project.allow_all_types
    if wanted.allow_all_types is not None:
        allow_all = wanted.allow_all_types
    text = project.description if description is None else description
    changes = (text != project.description, allow_all != project.allow_all_types, new_types)
    if access == project.access and not any(changes):
        return project
    _require_role(con, user, project, "admin" if access != project.access else "member")
    return registries.save(
        con,
        project,
        description=text,
        access=access,
        allow_all_types=allow_all,
        new_types=new_types,
    )


def _require_role(con: sqlite3.Connection, user: User, project: Project, least: str) -> None:
    role = registries.role_of(con, project, user.id) or "none"
    if role == "admin" or (least == "member" and role == "member"):
        return
    what = "change its visibility" if least == "admin" else "edit its settings"
    who = "admins" if least == "admin" else "admins and members"
    raise Forbidden(
        f"permission denied: only {who} of registry {project.name} can {what} "
        f"(your registry role is {role})"
    )


def require_accepted(con: sqlite3.Connection, project: Project, type_name: str) -> None:
    """A registry that accepts listed types only refuses a collection of another type."""
    if not project.is_registry or project.allow_all_types:
        return
    accepted = registries.accepted_types(con, project)
    if type_name not in accepted:
        raise InvalidInput(
            f"registry {project.name} does not accept artifact type {type_name!r} "
            f"(it accepts: {', '.join(accepted) or 'none'})"
        )

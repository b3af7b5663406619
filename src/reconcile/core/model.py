"""Frozen values the whole pipeline speaks: locations, resources and the inventory.

Events and actions are kept in the inventory's own vocabulary (the YAML keys), so a
plan explains a difference in the words a reviewer wrote; `wire.py` translates them
to and from W&B's GraphQL shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

REGISTRY_PREFIX = "wandb-registry-"

Kind = Literal["secret", "webhook", "automation"]


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file: path as given (relative to the working directory), 1-based."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}" if self.line else self.path


@dataclass(frozen=True)
class Origin:
    """Where a resource was written: a file and the data path inside it.

    Turned into a line and column only when something must be reported there.
    """

    path: str
    pointer: tuple[str | int, ...] = ()


@dataclass(frozen=True, order=True)
class ResourceKey:
    """The identity of a resource: what plan matches the two sides on."""

    kind: Kind
    entity: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.entity}/{self.name}"


@dataclass(frozen=True)
class Secret:
    """A team secret: its value comes from an environment variable, only during apply."""

    entity: str
    name: str
    from_env: str
    rotation: int = 0
    origin: Origin | None = field(default=None, compare=False)

    # Cached (in the instance's __dict__; fields, equality and `replace` are untouched):
    # a plan of 10,000 asks each resource's key a dozen times, and a frozen ResourceKey
    # takes about a microsecond to build.
    @cached_property
    def key(self) -> ResourceKey:
        return ResourceKey("secret", self.entity, self.name)


@dataclass(frozen=True)
class EnvUrl:
    """A webhook URL kept out of git: read from `from_env` during apply, like a secret.

    Its value is never shown or compared; `rotation` is bumped when it changes.
    """

    from_env: str
    rotation: int = 0


@dataclass(frozen=True)
class Webhook:
    """A generic webhook integration; secrets are referenced by name."""

    entity: str
    name: str
    url: str | EnvUrl
    access_token: str | None = None
    secret: str | None = None
    # Rotation counters of the secrets it uses (recorded in its ownership marker).
    rotations: tuple[tuple[str, int], ...] = ()
    origin: Origin | None = field(default=None, compare=False)

    @cached_property
    def key(self) -> ResourceKey:
        return ResourceKey("webhook", self.entity, self.name)


@dataclass(frozen=True)
class Scope:
    """Where an automation listens: a project or registry, optionally one collection; or a
    whole entity (W&B's entity scope): a team, or the entity of its organization (every
    registry). Then `project` is empty."""

    project: str
    collection: str | None = None
    team: str | None = None
    organization: str | None = None

    @property
    def registry(self) -> str | None:
        """The registry's short name when the project is a registry, else None."""
        if self.project.startswith(REGISTRY_PREFIX):
            return self.project[len(REGISTRY_PREFIX) :]
        return None

    def describe(self) -> str:
        if self.team:
            return f"team {self.team}"
        if self.organization:
            return f"organization {self.organization}"
        where = f"registry {self.registry}" if self.registry else f"project {self.project}"
        return f"collection {self.collection} in {where}" if self.collection else where


@dataclass(frozen=True)
class Event:
    """What triggers an automation, as written under `when:` (defaults filled in).

    `kind` is the key under `when:` (`alias_added`, `run_metric`, ...); `params` its
    mapping, normalized so two equal events compare equal.
    """

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """What an automation does, as written under `then:` (`webhook`, `slack`, `no_op`)."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Automation:
    """One automation (a W&B trigger)."""

    entity: str
    name: str
    scope: Scope
    event: Event
    action: Action
    description: str = ""
    enabled: bool = True
    protect: bool = False
    previously: tuple[str, ...] = ()
    origin: Origin | None = field(default=None, compare=False)

    @cached_property
    def key(self) -> ResourceKey:
        return ResourceKey("automation", self.entity, self.name)


Resource = Secret | Webhook | Automation


@dataclass(frozen=True)
class Inventory:
    """Everything the YAML files declare, validated."""

    secrets: tuple[Secret, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    automations: tuple[Automation, ...] = ()

    @property
    def entities(self) -> tuple[str, ...]:
        found = {s.entity for s in self.secrets} | {w.entity for w in self.webhooks}
        return tuple(sorted(found | {a.entity for a in self.automations}))


@dataclass(frozen=True)
class Remote:
    """A resource as the server has it, decoded into the inventory's vocabulary.

    `value` has the ownership marker stripped; `managed` and `protected` say what the
    marker said. `id` is the server's identifier (secrets have none). `url_masked`: a
    webhook whose URL this key reads as `scheme://host:port/***` (it is not an admin of
    the webhook's team): its `url` is that masked form, not the URL. `applied`: the
    digest of what the last apply wrote, when its marker records one.
    """

    value: Resource
    id: str | None = None
    managed: bool = False
    protected: bool = False
    url_masked: bool = False
    # The digest of the spec the last apply wrote (its ownership marker), if recorded.
    applied: str | None = None

    @property
    def key(self) -> ResourceKey:
        return self.value.key


@dataclass(frozen=True)
class State:
    """What the server holds for the inventory's entities."""

    resources: tuple[Remote, ...] = ()

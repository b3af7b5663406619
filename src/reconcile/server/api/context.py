"""What every resolver receives: the open transaction, the caller, the secret box, the
request's cost meter."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from reconcile.server.api.cost import Meter
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.teams import User


@dataclass(frozen=True)
class RequestContext:
    """One GraphQL request: all resolvers share its connection (one transaction)."""

    con: sqlite3.Connection
    user: User
    box: SecretBox
    meter: Meter = field(default_factory=Meter)
    # The features `serverInfo` lists as enabled; None: all of present.FEATURES.
    features: frozenset[str] | None = field(default=None)
    # The URL the client reached this server at (upload URLs point there).
    base_url: str = ""
    # Work a mutation queued for after its commit (deliveries for the worker).
    queued: list[Any] = field(default_factory=list)

"""One apply at a time per entity, enforced by the server itself.

The lock is a webhook named `reconcile-lock` whose URL (on the reserved `.invalid`
domain, so nothing can ever be delivered to it) names its holder and since when.
Creating it is atomic (a second create of the name is refused), so two applies
anywhere cannot both hold it. It is visible in the W&B UI, is never part of a plan,
and a stale one (a killed apply) is removed only on purpose, by `reconcile unlock`.
"""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from reconcile.client.reader import Reader
from reconcile.client.transport import GraphQLError, Unreachable
from reconcile.core.errors import ReconcileError
from reconcile.core.ownership import LOCK_NAME

LOCK_URL = "https://reconcile.invalid/apply-lock"

ACQUIRE = """
mutation AcquireApplyLock($input: CreateGenericWebhookIntegrationInput!) {
  createGenericWebhookIntegration(input: $input) {
    integration { __typename ... on GenericWebhookIntegration { id name urlEndpoint } }
  }
}
"""

RELEASE = """
mutation ReleaseApplyLock($id: ID!) {
  deleteIntegration(input: {id: $id}) { success }
}
"""


class LockHeld(ReconcileError):
    """Raised when another apply holds the lock of an entity."""


@dataclass(frozen=True)
class Held:
    """A lock this process took: the entity and the lock webhook's id."""

    entity: str
    lock_id: str


def holder() -> str:
    """Who is applying: user@host, process id."""
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


async def acquire(reader: Reader, entity: str, who: str) -> Held:
    """Take the entity's lock, or raise LockHeld naming whoever has it."""
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"{LOCK_URL}?{urlencode({'holder': who, 'since': since})}"
    variables = {"input": {"entityName": entity, "name": LOCK_NAME, "urlEndpoint": url}}
    try:
        data = await reader.transport.execute(ACQUIRE, variables, idempotent=False)
    except (GraphQLError, Unreachable):
        # Refused (someone holds it), or the answer was lost: the server knows which.
        node = await find(reader, entity)
        if node is not None and _info(node).get("holder") == who:
            return Held(entity, node["id"])
        if node is None:
            raise
        raise LockHeld(_held_message(entity, node)) from None
    return Held(entity, data["createGenericWebhookIntegration"]["integration"]["id"])


async def release(reader: Reader, held: Held) -> None:
    await reader.transport.execute(RELEASE, {"id": held.lock_id})


async def find(reader: Reader, entity: str) -> dict[str, Any] | None:
    """The entity's lock, if any."""
    return await reader.find_webhook(entity, LOCK_NAME)


def describe(node: dict[str, Any] | None) -> str:
    """`user@host pid N since T` from a lock webhook."""
    info = _info(node) if node is not None else {}
    if "holder" not in info:
        return "an unknown holder"
    return f"{info['holder']} since {info.get('since', 'an unknown time')}"


def _info(node: dict[str, Any]) -> dict[str, str]:
    query = parse_qs(urlsplit(str(node.get("urlEndpoint", ""))).query)
    return {key: values[0] for key, values in query.items() if values}


def _held_message(entity: str, node: dict[str, Any]) -> str:
    return (
        f"another apply holds the lock of entity {entity!r}: {describe(node)}. "
        "If that apply is no longer running, remove the lock with "
        f"`reconcile unlock --entity {entity}`"
    )

"""One apply at a time per entity, enforced by the server itself.

The lock is an automation named `reconcile-lock`, disabled and doing nothing, whose
description names its holder and since when. Creating it is atomic (a second create
of the name answers 409), so two applies anywhere cannot both hold it. It is visible
in the W&B UI, is never part of a plan, and a stale one (a killed apply) is removed
only on purpose, by `reconcile unlock`.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconcile.client import operations as ops
from reconcile.client.reader import Reader
from reconcile.client.transport import GraphQLError
from reconcile.errors import ReconcileError
from reconcile.ownership import LOCK_NAME


class LockHeld(ReconcileError):
    """Raised when another apply holds the lock of an entity."""


@dataclass(frozen=True)
class Held:
    """A lock this process took: the entity and the trigger's id."""

    entity: str
    trigger_id: str


def holder() -> str:
    """Who is applying: user@host, process id."""
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


def _description(who: str) -> str:
    since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"holder": who, "since": since})


async def acquire(reader: Reader, entity: str, project_id: str, who: str) -> Held:
    """Take the entity's lock, or raise LockHeld naming whoever has it."""
    lock_input = {
        "name": LOCK_NAME,
        "description": _description(who),
        "enabled": False,
        "scopeType": "PROJECT",
        "scopeID": project_id,
        "triggeringEventType": "RUN_STATE",
        "eventFilter": json.dumps(
            {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}
        ),
        "triggeredActionType": "NO_OP",
        "triggeredActionConfig": {"noOpActionInput": {"noOp": True}},
    }
    try:
        data = await reader.transport.execute(
            ops.CREATE_TRIGGER, {"input": lock_input}, idempotent=False
        )
    except GraphQLError as error:
        if error.status != 409:
            raise
        found = await find(reader, entity)
        raise LockHeld(_held_message(entity, found)) from None
    return Held(entity, data["createFilterTrigger"]["trigger"]["id"])


async def release(reader: Reader, held: Held) -> None:
    await reader.transport.execute(ops.DELETE_TRIGGER, {"id": held.trigger_id})


async def find(reader: Reader, entity: str) -> dict[str, Any] | None:
    """The entity's lock trigger, if any."""
    return await reader.find_trigger(entity, LOCK_NAME)


def describe(node: dict[str, Any] | None) -> str:
    """`user@host pid N since T` from a lock trigger."""
    if node is None:
        return "an apply that has just finished"
    try:
        info = json.loads(node.get("description") or "{}")
        return f"{info['holder']} since {info['since']}"
    except (ValueError, KeyError, TypeError):
        return "an unknown holder"


def _held_message(entity: str, node: dict[str, Any] | None) -> str:
    return (
        f"another apply holds the lock of entity {entity!r}: {describe(node)}. "
        "If that apply is no longer running, remove the lock with "
        f"`reconcile unlock --entity {entity}`"
    )

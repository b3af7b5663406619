"""S5: secret values, the `Authorization` header and signatures are never stored."""

from __future__ import annotations

from pathlib import Path

from tests.server.helpers import World
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    SECRET,
    TOKEN,
    alias_automation,
    alias_event,
    drain,
    emit,
    hook_with_secrets,
)


def test_nothing_secret_is_stored_after_deliveries(world: World, receiver: Receiver) -> None:
    hook = hook_with_secrets(world, receiver.url("/flaky"))
    alias_automation(world.admin, world.project_id, hook)
    emit(world, {"events": [alias_event(f"s5-{n}") for n in range(5)]})
    assert drain(world) == 0
    sent = {r.headers["x-wandb-signature"] for r in receiver.requests}
    sent |= {r.headers["webhook-signature"] for r in receiver.requests}
    assert len(receiver.requests) == 10
    with world.db.read() as con:
        dump = "\n".join(con.iterdump())
    files = b"".join(p.read_bytes() for p in Path(world.db.path).parent.glob("server.db*"))
    for value in (TOKEN, SECRET, *sent):
        assert value not in dump
        assert value.encode() not in files
    assert "authorization" not in dump.lower()
    # What is stored is the masked body.
    assert dump.count('"token":"***"') == 5

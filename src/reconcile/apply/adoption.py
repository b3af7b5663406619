"""One object's ownership, for `reconcile import` and `reconcile forget`: the marker
stamped on (with the digest of the object as it is) or taken off. Nothing else of the
object changes, and nothing else on the server.
"""

from __future__ import annotations

from reconcile.apply import target as targets
from reconcile.client.reader import Reader
from reconcile.client.writer import Writer
from reconcile.core.errors import UsageError
from reconcile.core.model import Remote, ResourceKey, State


async def read(target: targets.Target, key: ResourceKey) -> tuple[State, Remote]:
    """The state of the key's entity, and the object; UsageError when it is not there."""
    async with targets.connect(target) as transport:
        state, _ = await Reader(transport).read([key.entity], [])
    for remote in state.resources:
        if remote.key == key:
            return state, remote
    raise UsageError(f"no {key} on {target.describe()}")


async def stamp(target: targets.Target, key: ResourceKey) -> None:
    """Stamp the ownership marker on the object (not managed yet), as it is now."""
    async with targets.connect(target) as transport:
        reader = Reader(transport)
        state, lookup = await reader.read([key.entity], [])
        found = State(tuple(r for r in state.resources if r.key == key and not r.managed))
        await Writer(reader, lookup, {}).adopt(found)


async def unmark(target: targets.Target, key: ResourceKey) -> None:
    """Take the ownership marker off the object; UsageError when that would change more."""
    async with targets.connect(target) as transport:
        reader = Reader(transport)
        state, lookup = await reader.read([key.entity], [])
        remote = next((r for r in state.resources if r.key == key), None)
        if remote is None:
            raise UsageError(f"no {key} on {target.describe()}")
        if not remote.managed:
            raise UsageError(f"{key} is not managed by reconcile on {target.describe()}")
        if remote.url_masked:
            raise UsageError(
                f"{key}: this key reads its URL masked; forget it with a key of an admin "
                f"of team {key.entity}"
            )
        await Writer(reader, lookup, {}).forget(remote)

"""`reconcile import` and `reconcile forget`: bring one server object under the inventory,
or stop managing one without deleting it (Terraform's `import` and `state rm`)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import cast

import click

from reconcile.apply import adoption
from reconcile.apply import target as targets
from reconcile.cli.options import target_options
from reconcile.core.errors import InvalidInventory, UsageError
from reconcile.core.model import Kind, Resource, ResourceKey
from reconcile.core.safe import key_text
from reconcile.export import destination, one
from reconcile.inventory import project
from reconcile.inventory.load import load_inventory

KINDS = ("automation", "webhook")


def _key(kind: str, address: str) -> ResourceKey:
    entity, slash, name = address.partition("/")
    if not (slash and entity and name):
        raise UsageError(f"{address}: give the object as ENTITY/NAME (for example ml-platform/x)")
    return ResourceKey(cast(Kind, kind), entity, name)


def _declared(key: ResourceKey, root: Path) -> Resource | None:
    """The project inventory's declaration of `key`, or None (None too when the project
    has no inventory yet: an import starts it)."""
    if not project.inventory_dir(root).is_dir():
        return None
    try:
        inventory = load_inventory(project.default_paths(root))
    except InvalidInventory as invalid:
        raise UsageError(
            f"the inventory has {len(invalid.issues)} problem(s) (see `reconcile validate`); "
            "fix them first"
        ) from None
    found: list[Resource] = [*inventory.webhooks, *inventory.automations]
    return next((resource for resource in found if resource.key == key), None)


@click.command("import")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("address", metavar="ENTITY/NAME")
@target_options
@click.option(
    "--into",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The inventory file to declare it in, new or existing [default: automations/ENTITY.yaml].",
)
def import_command(
    kind: str, address: str, server: str | None, db: Path | None, into: Path | None
) -> None:
    """Adopt one object of the server: declare it in a file and mark it as managed.

    The file keeps everything else it holds; on the server only the ownership marker
    is added. `reconcile plan` then shows no change for it.

    \b
    Examples:
      reconcile import automation ml-platform/page-on-failure
      reconcile import webhook ml-platform/deploy --into automations/team.yaml
    """
    key = _key(kind, address)
    target = targets.choose(server, db, os.environ)
    root = project.find_root()
    declared = _declared(key, root)
    state, remote = asyncio.run(adoption.read(target, key))
    if remote.managed:
        _managed_already(key, declared, f"{kind} {address}")
    if declared is not None:
        asyncio.run(adoption.stamp(target, key))
        click.echo(
            f"adopted {key_text(key)}, declared in {_origin(declared)} already; "
            "`reconcile plan` shows what apply would change in it"
        )
        return
    path = into or project.inventory_dir(root) / f"{key.entity}.yaml"
    item = one.row(key, state, destination.rejected(key.entity, state))
    new = not path.exists()
    text = one.added(path, key, item, destination.schema_ref(path.parent, root))
    _check(path, text, root)
    asyncio.run(adoption.stamp(target, key))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    made = " (a new file)" if new else ""
    click.echo(f"imported {key_text(key)} into {project.shown(path)}{made}")


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("address", metavar="ENTITY/NAME")
@target_options
def forget(kind: str, address: str, server: str | None, db: Path | None) -> None:
    """Stop managing one object without deleting it from the server.

    Its ownership marker comes off, and its declaration out of the inventory file that
    holds it; `reconcile plan` then leaves it alone (an unmanaged object).

    \b
    Example:
      reconcile forget automation ml-platform/page-on-failure
    """
    key = _key(kind, address)
    target = targets.choose(server, db, os.environ)
    root = project.find_root()
    declared = _declared(key, root)
    text = None
    if declared is not None and declared.origin is not None:
        path = Path(declared.origin.path)
        text = one.removed(path, key)
        _check(path, text, root)  # before the server: a refusal changes nothing
    asyncio.run(adoption.unmark(target, key))
    told = f"forgot {key_text(key)}: it stays on the server, no longer managed by reconcile"
    if text is not None and declared is not None and declared.origin is not None:
        Path(declared.origin.path).write_text(text, encoding="utf-8")
        told += f"; removed it from {declared.origin.path}"
    click.echo(told)


def _managed_already(key: ResourceKey, declared: Resource | None, typed: str) -> None:
    if declared is not None:
        raise UsageError(
            f"{key_text(key)} is managed by reconcile already (declared in {_origin(declared)})"
        )
    raise UsageError(
        f"{key_text(key)} is managed by reconcile already; to move it here, "
        f"`reconcile forget {typed}` first"
    )


def _check(path: Path, text: str, root: Path) -> None:
    joins = destination.joined(path, root)
    destination.check(destination.Destination(path, joins, frozenset(), None), text)


def _origin(resource: Resource) -> str:
    return resource.origin.path if resource.origin is not None else "the inventory"


COMMANDS = (import_command, forget)

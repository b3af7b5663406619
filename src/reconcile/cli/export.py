"""`reconcile export`: a server's objects written as inventory YAML, optionally adopted."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from reconcile.apply import session
from reconcile.apply import target as targets
from reconcile.cli.options import target_options
from reconcile.core.model import ResourceKey, State
from reconcile.core.safe import key_text, visible
from reconcile.export import convert as export
from reconcile.export import destination as export_target
from reconcile.inventory import project


@click.command("export")
@target_options
@click.option("--entity", required=True, help="The team whose objects to export.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write ENTITY.yaml into [default: the project's automations/].",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="Stamp the ownership marker on what is exported, and on what the inventory "
    "declares but the server does not mark as managed.",
)
@click.option(
    "--include-managed",
    is_flag=True,
    help="Also export objects managed by reconcile that the inventory written to does "
    "not declare (another inventory's).",
)
def export_command(  # noqa: PLR0917 - click passes each option as an argument
    server: str | None,
    db: Path | None,
    entity: str,
    out: Path | None,
    adopt: bool,
    include_managed: bool,
) -> None:
    """Write the server's objects of an entity as inventory YAML.

    Objects the inventory written to already declares are left out, and so are objects
    another inventory manages (unless --include-managed); nothing is written (or
    adopted) unless the inventory still validates with the new file.
    """
    target = targets.choose(server, db, os.environ)
    root = project.find_root()
    place = export_target.destination(
        out or project.inventory_dir(root), entity, root, exists_ok=adopt
    )
    state, _ = asyncio.run(session.export(target, entity))  # read only, until checked
    rejected = export_target.rejected(entity, state)
    elsewhere = set() if include_managed else _managed_elsewhere(state, place.declared)
    skip = place.declared | elsewhere
    keys = export.exported(entity, state, skip, rejected)
    declared = [key_text(r.key) for r in state.resources if r.key in place.declared]
    joins = project.shown(place.joins)
    _elsewhere_note(state, elsewhere, joins)
    if not keys:
        if elsewhere:
            click.echo(
                f"nothing to write: {joins}/ declares {len(declared)} objects, and "
                f"{len(elsewhere)} are managed from another inventory"
            )
        else:
            click.echo(f"nothing to write: {joins}/ already declares all {len(declared)} objects")
        if adopt:
            _adopted(asyncio.run(session.export(target, entity, adopt=True, rejected=rejected))[1])
        return
    export_target.refuse_existing(place.path)
    if declared:
        click.echo(f"not exported (already declared in {joins}/): " + ", ".join(declared), err=True)
    text = export.render(entity, state, place.schema_ref, skip, rejected)
    export_target.check(place, text)
    adopted: list[ResourceKey] = []
    if adopt:
        state, adopted = asyncio.run(session.export(target, entity, adopt=True, rejected=rejected))
        rejected = export_target.rejected(entity, state)
        text = export.render(entity, state, place.schema_ref, skip, rejected)
    place.path.parent.mkdir(parents=True, exist_ok=True)
    place.path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {project.shown(place.path)}")
    _adopted(adopted)
    _export_notes(export.skipped(entity, state, rejected), place.schema_ref is None)


def _managed_elsewhere(state: State, declared: frozenset[ResourceKey]) -> set[ResourceKey]:
    """Objects marked as managed that the inventory written to does not declare: another
    inventory's (another folder, another checkout), never taken silently."""
    return {r.key for r in state.resources if r.managed and r.key not in declared}


def _elsewhere_note(state: State, elsewhere: set[ResourceKey], joins: str) -> None:
    if elsewhere:
        shown = ", ".join(key_text(r.key) for r in state.resources if r.key in elsewhere)
        click.echo(
            f"not exported (managed by reconcile, not declared in {joins}/; "
            f"--include-managed exports them too): {shown}",
            err=True,
        )


def _adopted(adopted: list[ResourceKey]) -> None:
    if adopted:
        shown = ", ".join(visible(k.name) for k in adopted)
        click.echo(f"adopted {len(adopted)} objects: {shown}")


def _export_notes(inexpressible: list[str], no_schema: bool) -> None:
    for note in inexpressible:  # names and reasons escaped by export.skipped
        click.echo(f"not exported: {note}", err=True)
    if no_schema:
        click.echo(
            f"no {export_target.SCHEMA} in the project, so no schema modeline: "
            f"`reconcile schema > {export_target.SCHEMA}` gives editors the schema",
            err=True,
        )


COMMANDS = (export_command,)

"""Where `reconcile export` writes, and the promise that the inventory stays valid.

The exported file joins an inventory: the project's `automations/` when it is written
there (the default), else the folder it is written to. What that inventory already
declares is not exported again, and the file is written only if the inventory,
with it, still validates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from reconcile.core.errors import InvalidInventory, UsageError
from reconcile.core.model import Resource, ResourceKey, State
from reconcile.export import convert as export
from reconcile.inventory import load as inventory
from reconcile.inventory import project
from reconcile.inventory.loader import Positions, discover, display_path, load_files, parse_text

SCHEMA = Path("schema/inventory.schema.json")


@dataclass(frozen=True)
class Destination:
    """The file to write, the inventory it joins, and what that inventory declares."""

    path: Path
    joins: Path
    declared: frozenset[ResourceKey]
    schema_ref: str | None


def destination(out: Path, entity: str, root: Path, exists_ok: bool = False) -> Destination:
    """Check the place before anything is read or adopted; UsageError when unusable.

    `exists_ok`: the file may exist (`export --adopt` may have only declared objects to
    adopt); `refuse_existing` refuses it once there is something to write.
    """
    path = out / f"{entity}.yaml"
    if not exists_ok:
        refuse_existing(path)
    whole = project.inventory_dir(root)
    joins = whole if _inside(out, whole) else out
    try:
        declared = inventory.load_inventory([str(joins)]) if joins.is_dir() else None
    except InvalidInventory as invalid:
        raise UsageError(
            f"{joins} holds an inventory with {len(invalid.issues)} problem(s) "
            "(see `reconcile validate`); fix it, or export to another --out folder"
        ) from None
    keys: frozenset[ResourceKey] = frozenset()
    if declared is not None:
        found: list[Resource] = [*declared.secrets, *declared.webhooks, *declared.automations]
        keys = frozenset(resource.key for resource in found)
    return Destination(path, joins, keys, schema_ref(out, root))


def refuse_existing(path: Path) -> None:
    if path.exists():
        raise UsageError(
            f"{path} exists; choose another --out folder, or declare objects in it one by "
            "one with `reconcile import`"
        )


def check(dest: Destination, text: str) -> None:
    """Refuse (UsageError, with every problem) a file that would break the inventory.

    `text` replaces the file when it exists (an import into it, a forget from it).
    """
    paths = discover([str(dest.joins)]) if dest.joins.is_dir() else []
    paths = [path for path in paths if not _same(path, dest.path)]
    documents, issues = load_files(paths)
    documents.append(parse_text(text, display_path(dest.path)))
    _, findings, _ = inventory.check(documents)
    positions = Positions(documents)
    # A warning (a Slack URL written literally, say) does not stop validation: nor here.
    issues.extend(positions.issue(finding) for finding in findings if not finding.warning)
    if issues:
        listed = "\n".join(str(issue) for issue in sorted(set(issues)))
        raise UsageError(
            f"not writing {dest.path}: the inventory would not validate with it:\n{listed}"
        )


def rejected(entity: str, state: State) -> dict[ResourceKey, str]:
    """The entity's expressible automations whose exported form would not validate, and
    why: W&B takes what the inventory refuses (a payload variable the event does not set),
    and export writes only what `reconcile validate` accepts."""
    whole = export.draft(entity, state, export.left_out(entity, state))
    names = [row["name"] for row in whole.get("automations", [])]
    text = yaml.safe_dump(whole, sort_keys=False, allow_unicode=True)
    _, findings, _ = inventory.check([parse_text(text, f"{entity}.yaml")])
    out: dict[ResourceKey, str] = {}
    for finding in findings:
        if finding.warning or finding.pointer[:1] != ("automations",) or len(finding.pointer) < 2:
            continue
        key = ResourceKey("automation", entity, names[int(finding.pointer[1])])
        where, _, problem = finding.message.partition(": ")
        field = where.split(".", 1)[1] if "." in where else where
        out.setdefault(key, f"it would not validate: {field}: {problem}")
    return out


def joined(path: Path, root: Path) -> Path:
    """The inventory a file belongs to: the project's `automations/` when it is in it,
    else the folder it is in."""
    whole = project.inventory_dir(root)
    return whole if _inside(path.parent, whole) else path.parent


def schema_ref(folder: Path, root: Path) -> str | None:
    """The schema modeline's path from `folder`, when the project has the schema."""
    schema = root / SCHEMA
    return os.path.relpath(schema, Path(os.path.abspath(folder))) if schema.is_file() else None


def _same(one: Path, other: Path) -> bool:
    return os.path.abspath(one) == os.path.abspath(other)


def _inside(folder: Path, parent: Path) -> bool:
    return Path(os.path.abspath(folder)).is_relative_to(os.path.abspath(parent))

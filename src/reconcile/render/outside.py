"""The plan's changes split in two, like Terraform's "changed outside" section: what was
edited on the server since the last apply (the change only puts the inventory back), and
what the inventory proposes. Read by the text and markdown renderers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HEADING = "Changed outside reconcile since the last apply"
REVERTS = "apply puts back what the inventory declares"
PROPOSED = "Proposed by the inventory"
ALSO = "also changed outside reconcile since the last apply"


@dataclass(frozen=True)
class Split:
    """`reverts`: changes that only undo an edit made on the server; `both`: changes of
    objects edited on the server that the inventory changes too; `proposed`: the rest,
    `both` included, in plan order."""

    reverts: tuple[dict[str, Any], ...]
    both: tuple[dict[str, Any], ...]
    proposed: tuple[dict[str, Any], ...]

    @property
    def apart(self) -> bool:
        """True when there is anything changed outside to show apart."""
        return bool(self.reverts or self.both)


def split(plan: dict[str, Any]) -> Split:
    """The plan's changes in the two groups (everything is proposed in a plan without
    `changed_outside`: objects applied before digests were recorded, or nothing edited)."""
    rows = plan.get("changed_outside", [])
    edited = {_ident(row): bool(row["inventory_changed"]) for row in rows}
    reverts = [c for c in plan["changes"] if edited.get(_ident(c)) is False]
    both = [c for c in plan["changes"] if edited.get(_ident(c)) is True]
    proposed = [c for c in plan["changes"] if edited.get(_ident(c)) is not False]
    return Split(tuple(reverts), tuple(both), tuple(proposed))


def is_also(split_: Split, change: dict[str, Any]) -> bool:
    """True for a proposed change whose object was edited on the server too."""
    return any(_ident(row) == _ident(change) for row in split_.both)


def _ident(row: dict[str, Any]) -> tuple[str, str, str]:
    return (str(row["kind"]), str(row["entity"]), str(row["name"]))

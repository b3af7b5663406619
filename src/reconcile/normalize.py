"""The canonical form both sides of a diff pass through: plain JSON-able mappings.

Only what the inventory controls appears; server-only fields (ids, timestamps) and
secret values never do. Secrets compare by their rotation counter.
"""

from __future__ import annotations

from typing import Any

from reconcile.model import Automation, Resource, Scope, Secret, Webhook


def canonical(resource: Resource) -> dict[str, Any]:
    """The comparable fields of a resource, in the inventory's words."""
    if isinstance(resource, Secret):
        return {"rotation": resource.rotation}
    if isinstance(resource, Webhook):
        return {
            "url": resource.url,
            "access_token": resource.access_token,
            "secret": resource.secret,
            "rotations": {name: n for name, n in resource.rotations if n > 0},
        }
    return _automation(resource)


def _automation(auto: Automation) -> dict[str, Any]:
    return {
        "description": auto.description,
        "enabled": auto.enabled,
        "protect": auto.protect,
        "scope": scope(auto.scope),
        "when": {auto.event.kind: dict(auto.event.params)},
        "then": {auto.action.kind: dict(auto.action.params)},
    }


def scope(value: Scope) -> dict[str, str]:
    """`{"registry": r}` or `{"project": p}`, plus `collection` when there is one."""
    out = {"registry": value.registry} if value.registry else {"project": value.project}
    if value.collection:
        out["collection"] = value.collection
    return out

"""The canonical form both sides of a diff pass through: plain JSON-able mappings.

Only what the inventory controls appears; server-only fields (ids, timestamps) and
secret values never do. Secrets compare by their rotation counter.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from reconcile.core.model import Automation, EnvUrl, Resource, Scope, Secret, Webhook
from reconcile.inventory import build


def canonical(resource: Resource) -> dict[str, Any]:
    """The comparable fields of a resource, in the inventory's words."""
    if isinstance(resource, Secret):
        return {"rotation": resource.rotation}
    if isinstance(resource, Webhook):
        return {
            "url": url(resource.url),
            "access_token": resource.access_token,
            "secret": resource.secret,
            "rotations": {name: n for name, n in resource.rotations if n > 0},
        }
    return _automation(resource)


def digest(resource: Resource) -> str:
    """12 hex digits of sha256 over the canonical form: what apply records in the
    ownership marker, so a plan can tell an edit made on the server since then."""
    text = json.dumps(canonical(resource), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _automation(auto: Automation) -> dict[str, Any]:
    return {
        "description": auto.description,
        "enabled": auto.enabled,
        "protect": auto.protect,
        "scope": scope(auto.scope),
        "when": {auto.event.kind: dict(auto.event.params)},
        "then": {auto.action.kind: dict(auto.action.params)},
    }


def url(value: str | EnvUrl) -> str | dict[str, Any]:
    """A literal URL as is; one from the environment by its variable and rotation only."""
    if isinstance(value, EnvUrl):
        return {"from_env": value.from_env, "rotation": value.rotation}
    return value


def scope(value: Scope) -> dict[str, str]:
    """`{"registry": r}` or `{"project": p}`, plus `collection` when there is one; or
    `{"team": t}` or `{"organization": o}`."""
    if value.team:
        return {"team": value.team}
    if value.organization:
        return {"organization": value.organization}
    out = {"registry": value.registry} if value.registry else {"project": value.project}
    if value.collection:
        out["collection"] = value.collection
    return out


def terse(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    """A canonical value without the defaults the inventory fills in: what a person wrote.

    A webhook's rotation counters are left out too: they mirror its secrets' `rotation`.
    """
    if kind == "secret":
        return {k: v for k, v in value.items() if not (k == "rotation" and v == 0)}
    if kind == "webhook":
        out = {k: v for k, v in value.items() if k != "rotations"}
        if isinstance(out.get("url"), dict):
            out["url"] = _without(out["url"], {"rotation": 0})
        return out
    out = _without(value, build.AUTOMATION_DEFAULTS)
    for part, defaults in (("when", build.EVENT_DEFAULTS), ("then", build.ACTION_DEFAULTS)):
        if not isinstance(out.get(part), dict) or len(out[part]) != 1:
            continue
        ((name, params),) = out[part].items()
        if isinstance(params, dict):
            implied = {**defaults.get(name, {}), **build.RUN_DEFAULTS}
            if "window" in params:
                implied["prior_window"] = params["window"]
            out[part] = {name: _without(params, implied)}
    return out


def _without(value: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in defaults or v != defaults[k]}

"""The value of every payload variable for one event and automation.

The names come from the catalogue in `events.py` (what validate accepts); this module
gives each one its value, and refuses to load if a name has none, so the two agree.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reconcile.core.events import EVENTS, METADATA_PREFIX, variable_owner
from reconcile.core.model import Automation, Webhook
from reconcile.runtime.incoming import IncomingEvent

ACCESS_TOKEN = "ACCESS_TOKEN"
DEFAULT_APP_URL = "https://wandb.ai"
# W&B's documentation renders ${event_type} of a link as LINK_ARTIFACT (its wire name is
# LINK_MODEL); the other events are named as on the wire.
_EVENT_NAMES = {"artifact_linked": "LINK_ARTIFACT"}


@dataclass(frozen=True)
class Facts:
    """What a variable's value may depend on.

    `metric` is the metric name and the value that made a metric automation fire (the
    aggregate, when it aggregates); `artifact_id` the server's number for the version;
    `holder` the entity whose project holds the artifact, when it is not the event's
    (a registry's artifacts are its organization's entity's).
    """

    automation: Automation
    event: IncomingEvent
    metric: tuple[str, float] | None = None
    artifact_id: int | None = None
    app_url: str = DEFAULT_APP_URL
    holder: str | None = None


def event_type(automation: Automation) -> str:
    """The W&B event name an automation's deliveries carry as `${event_type}`."""
    kind = automation.event.kind
    return _EVENT_NAMES.get(kind, EVENTS[kind].wire)


def _artifact_version_string(f: Facts) -> str:
    if f.event.artifact is None:
        return ""
    e = f.event
    return f"{f.holder or e.entity}/{e.project}/{e.collection}:v{f.event.artifact.version}"


def _artifact_version(f: Facts) -> str:
    if f.event.artifact is None:
        return ""
    number = f.artifact_id
    if number is None:  # no server behind it (render): a stable number from the version
        digest = hashlib.sha256(_artifact_version_string(f).encode()).digest()
        number = int.from_bytes(digest[:6], "big")
    encoded = base64.b64encode(f"Artifact:{number}".encode()).decode()
    return f"wandb-artifact://_id/{encoded}"


def _run_url(f: Facts) -> str:
    run, e = f.event.run, f.event
    if run is None:
        return ""
    return f"{f.app_url.rstrip('/')}/{e.entity}/{e.project}/runs/{run.id}"


def _metric_name(f: Facts) -> str:
    return f.metric[0] if f.metric else str(f.automation.event.params.get("metric", ""))


def _metric_value(f: Facts) -> str:
    if f.metric is not None:
        return number_text(f.metric[1])
    value = f.event.metrics.get(_metric_name(f))
    return number_text(value) if value is not None else ""


def number_text(value: float) -> str:
    """How a number reads inside a string: `3`, `0.96`, `1e-05` (shortest round-trip)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_VALUES: dict[str, Callable[[Facts], str]] = {
    "project_name": lambda f: f.event.project,
    "entity_name": lambda f: f.event.entity,
    "event_type": lambda f: event_type(f.automation),
    "event_author": lambda f: f.event.author or "",
    "artifact_version": _artifact_version,
    "artifact_version_string": _artifact_version_string,
    "artifact_collection_name": lambda f: f.event.collection or "",
    "alias": lambda f: f.event.alias or "",
    "tag": lambda f: f.event.tag or "",
    "run_id": lambda f: f.event.run.id if f.event.run else "",
    "run_name": lambda f: f.event.run.name if f.event.run else "",
    "run_url": _run_url,
    "metric_name": _metric_name,
    "metric_value": _metric_value,
    "run_state": lambda f: f.event.state or "",
}
NAMES = frozenset(_VALUES)

_undefined = {name for spec in EVENTS.values() for name in spec.variables} - NAMES
if _undefined:  # pragma: no cover - a catalogue change without a value here
    raise ImportError(f"payload variables without a value: {sorted(_undefined)}")


def secret_variables(hook: Webhook | None) -> dict[str, str]:
    """The secret variables a webhook grants: variable name -> secret name."""
    if hook is None:
        return {}
    granted = {hook.secret: hook.secret} if hook.secret else {}
    if hook.access_token:
        granted[ACCESS_TOKEN] = hook.access_token
    return granted


def event_values(facts: Facts) -> dict[str, str]:
    """Every event variable the automation's event kind defines, with its value."""
    spec = EVENTS[facts.automation.event.kind]
    values = {name: _VALUES[name](facts) for name in spec.variables}
    if spec.artifact and facts.event.artifact is not None:
        for key, value in facts.event.artifact.metadata.items():
            values[METADATA_PREFIX + key] = _text(value)
    return values


def lookup(values: Mapping[str, str], facts: Facts, name: str) -> str | None:
    """The value of `name`: a known variable, or blank for a metadata key the event lacks
    and for a variable of another event (as W&B sends it), else None."""
    if name in values:
        return values[name]
    if EVENTS[facts.automation.event.kind].allows_variable(name) or variable_owner(name):
        return ""
    return None

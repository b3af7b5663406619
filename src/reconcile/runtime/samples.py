"""A sample event for an automation: what `reconcile render` shows without `--event`.

Built from the automation itself (its team, scope, metric, alias or tag), so the
sample is one that would reach it; the values that are not the automation's are
fixed placeholders, so the same inventory always renders the same bytes.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from reconcile.core.model import Automation
from reconcile.runtime.incoming import TRIGGERS, Artifact, IncomingEvent, Run

AUTHOR = "sample-user"
COLLECTION = "sample-collection"
RUN = Run("sample1x", "sample-run")
_SIMPLE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _literal(pattern: object, default: str) -> str:
    """The text a simple `^word$` regex matches, else `default`."""
    if not isinstance(pattern, str):
        return default
    text = pattern.removeprefix("^").removesuffix("$")
    text = text.replace("\\.", ".")
    return text if text and set(text) <= _SIMPLE else default


def sample_event(automation: Automation) -> IncomingEvent:
    """An event of the kind that fires `automation`, in its scope."""
    kind = automation.event.kind
    params = automation.event.params
    base = IncomingEvent(
        TRIGGERS[kind][0],
        automation.entity,
        automation.scope.project,
        id=f"sample-{kind}",
        registry=automation.scope.registry,
        author=AUTHOR,
    )
    if kind.startswith("run_metric"):
        metric = str(params.get("metric", "metric"))
        metrics = MappingProxyType({metric: _metric_value(automation)})
        return replace(base, run=RUN, step=100, metrics=metrics)
    if kind == "run_state":
        states = params.get("states") or ["finished"]
        return replace(base, run=RUN, state=states[0])
    metadata = MappingProxyType({"accuracy": 0.96, "framework": "pytorch"})
    event = replace(base, collection=automation.scope.collection or COLLECTION)
    if not kind.startswith("collection_tag"):  # a collection's tag involves no version
        event = replace(event, artifact=Artifact(version=3, type="model", metadata=metadata))
    if kind == "alias_added" or (kind.startswith("artifact_") and params.get("alias")):
        event = replace(event, alias=_sample_name(params.get("alias"), "production"))
    elif "tag" in params:
        tag = params.get("tag")  # a bare tag is the exact tag
        event = replace(event, tag=tag if isinstance(tag, str) else _sample_name(tag, "gold"))
    return event


def _sample_name(test: object, default: str) -> str:
    """A name for an alias or tag test: the first it names outright, outside `not` and
    `not_any` (a bare alias is a regex); `default` when it names none. Not evaluated."""
    return _named(test) or default


def _named(test: object) -> str | None:
    if not isinstance(test, dict):
        return _literal(test, "") or None
    for form, operand in test.items():
        if form in ("all", "any") and isinstance(operand, list):
            found = next((name for item in operand if (name := _named(item))), None)
            if found:
                return found
        elif form == "one_of" and isinstance(operand, list) and operand:
            return str(operand[0])
        elif form in ("equals", "contains") and isinstance(operand, str) and operand:
            return operand
        elif form == "matches" and _literal(operand, ""):
            return _literal(operand, "")
    return None


def _metric_value(automation: Automation) -> float:
    params = automation.event.params
    for name in ("above", "at_least", "below", "at_most", "amount", "threshold"):
        value = params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 1.0

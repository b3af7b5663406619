"""A sample event for an automation (what `reconcile render` shows without `--event`),
and whether an event fires it, by the server's own evaluator (`runtime.filters`).

The sample is built from the automation itself (its team, scope, metric, alias or
tag) and checked with the evaluator, so it is one that would fire it where one can be
built; the values that are not the automation's are fixed placeholders, so the same
inventory always renders the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from types import MappingProxyType

from reconcile.core import filters as tests
from reconcile.core import wire
from reconcile.core.events import EVENTS
from reconcile.core.model import REGISTRY_PREFIX, Automation
from reconcile.runtime import filters
from reconcile.runtime.incoming import TRIGGERS, Artifact, IncomingEvent, Run

AUTHOR = "sample-user"
COLLECTION = "sample-collection"
PROJECT = "sample-project"  # an artifact event's project under a team scope
REGISTRY = "sample"  # and its registry under an organization scope
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
        base = replace(base, step=100, metrics=metrics)
    elif kind == "run_state":
        states = params.get("states") or ["finished"]
        base = replace(base, state=states[0])
    else:
        return _artifact_sample(automation, base)
    names = _candidates(params.get("run_name"), RUN.name)
    tried = [replace(base, run=Run(RUN.id, name or RUN.name)) for name in names]
    return _first_firing(automation, tried)


def _artifact_sample(automation: Automation, base: IncomingEvent) -> IncomingEvent:
    kind, params = automation.event.kind, automation.event.params
    metadata = MappingProxyType({"accuracy": 0.96, "framework": "pytorch"})
    event = replace(base, collection=automation.scope.collection or COLLECTION)
    if automation.scope.team:
        event = replace(event, project=PROJECT)
    elif automation.scope.organization:
        event = replace(event, project=REGISTRY_PREFIX + REGISTRY, registry=REGISTRY)
    if not kind.startswith("collection_tag"):  # a collection's tag involves no version
        event = replace(event, artifact=Artifact(version=3, type="model", metadata=metadata))
    if kind == "alias_added" or (kind.startswith("artifact_") and params.get("alias")):
        names = _candidates(params.get("alias"), "production")
        if kind != "alias_added":  # a link may come without an alias
            names.append(None)
        return _first_firing(automation, [replace(event, alias=name) for name in names])
    if "tag" in params:
        tag = params.get("tag")  # a bare tag is the exact tag
        names = [tag] if isinstance(tag, str) else _candidates(tag, "gold")
        return _first_firing(automation, [replace(event, tag=name) for name in names])
    return event


def _first_firing(automation: Automation, tried: list[IncomingEvent]) -> IncomingEvent:
    """The first event the automation's filter accepts; the first one when none does."""
    return next((event for event in tried if why_not(automation, event) is None), tried[0])


def _candidates(test: object, default: str) -> list[str | None]:
    """Names to try for a test, most telling first: the one it names outright, the
    default, every text it mentions, and the default changed (for a `not`)."""
    named = [_named(test), default]
    for _, form, operand in tests.leaves("alias", test):
        items = operand if isinstance(operand, list) else [operand]
        if form == "matches":
            items = [_literal(operand, "")]
        named += [item for item in items if isinstance(item, str) and item]
    named.append(f"sample-{default}")
    return [name for index, name in enumerate(named) if name and name not in named[:index]]


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


def why_not(automation: Automation, event: IncomingEvent) -> str | None:
    """Why `automation` would not fire on `event` (its scope, filter or state), by the
    evaluator the server matches with; None when it would.

    The filter is the stored one: the automation's event encoded as `apply` writes it.
    A metric condition reads the run's earlier values, so only the metric's presence
    is checked here.
    """
    kind = automation.event.kind
    if event.type not in TRIGGERS[kind]:
        return f"it listens to {kind}, fired by {' or '.join(TRIGGERS[kind])} events"
    outside = _outside(automation, event)
    if outside:
        return outside
    wire_type, value = wire.encode_event(automation.event)
    stored = json.dumps(value, separators=(",", ":"), ensure_ascii=False)  # as apply sends it
    try:
        condition = filters.compiled(wire_type, stored)
    except filters.FilterError as error:  # validation refuses such filters: a safety net
        return f"its filter cannot run: {error}"
    doc = filters.document(event)
    if not condition.test(doc):
        return _failing(automation, doc)
    if condition.states is not None and filters.state_of(event) not in condition.states:
        wanted = ", ".join(sorted(s.lower() for s in condition.states))
        return f"its states are {wanted}; the run's state is {event.state}"
    if condition.metric is not None and condition.metric.name not in event.metrics:
        return f"the event logs no value of its metric {condition.metric.name!r}"
    return None


def _outside(automation: Automation, event: IncomingEvent) -> str | None:
    """Why the event is outside the automation's scope, or None."""
    scope = automation.scope
    where = f"it listens in {scope.describe()}"
    if scope.team and event.entity != scope.team:
        return f"{where}; the event is team {event.entity}'s"
    if scope.organization and not event.project.startswith(REGISTRY_PREFIX):
        return f"{where}, its registries; the event is in project {event.project}"
    if not (scope.registry or scope.organization) and event.entity != automation.entity:
        return f"{where} of team {automation.entity}; the event is team {event.entity}'s"
    if scope.project and event.project != scope.project:
        return f"{where}; the event is in {event.registry or event.project}"
    if scope.collection and event.collection != scope.collection:
        return f"{where}; the event is in collection {event.collection}"
    return None


def _failing(automation: Automation, doc: filters.Document) -> str:
    """The first condition of the automation's filter that does not hold, in its words."""
    field = (EVENTS[automation.event.kind].fields or ("run_name",))[0]
    name = tests.WIRE_FIELDS[field]
    fields = filters.RUN_FIELDS if field == "run_name" else filters.ARTIFACT_FIELDS
    conditions = tests.encode(field, automation.event.params.get(field))
    failed = next(
        (c for c in conditions if not filters.compile_filter(c, fields)(doc)), conditions[0]
    )
    shown = tests.show(tests.decode_condition(field, failed))
    got = doc.get(name)
    what = field.replace("_", " ")
    on = f"{what} {tests.show(got)}" if got is not None else f"an event without a {what}"
    return f"its {what} test {shown} does not hold for {on}"


def _metric_value(automation: Automation) -> float:
    params = automation.event.params
    for name in ("above", "at_least", "below", "at_most", "amount", "threshold"):
        value = params.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 1.0

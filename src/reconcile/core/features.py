"""Server features that gate automations, as the SDK 0.31 checks them before sending one.

Mirrors `wandb/automations/_compat.py`: an event or scope outside the SDK's ungated sets
needs its feature enabled in `serverInfo.features`, or the SDK refuses to send it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconcile.core.model import Automation
from reconcile.core.wire import encode_event

EVENT_FEATURES: dict[str, str] = {
    wire: f"AUTOMATION_EVENT_{wire}"
    for wire in (
        "RUN_METRIC_ZSCORE",
        "ADD_ARTIFACT_TAG",
        "ADD_COLLECTION_TAG",
        "REMOVE_ARTIFACT_TAG",
        "REMOVE_COLLECTION_TAG",
        "UNLINK_ARTIFACT",
    )
}
SCOPE_FEATURES: dict[str, str] = {"ENTITY": "AUTOMATION_SCOPE_ENTITY"}
# Not W&B's: a server run by `reconcile serve` lists it to say it answers pages of
# LARGE_PAGE_SIZE automations (within its cost budget). Other servers get pages of 100,
# the most W&B is known to answer.
LARGE_PAGES = "RECONCILE_LARGE_PAGES"
LARGE_PAGE_SIZE = 1000


def needed(event_type: str, scope_type: str) -> list[str]:
    """The features an automation with this wire event type and scope type needs."""
    found = [EVENT_FEATURES.get(event_type), SCOPE_FEATURES.get(scope_type)]
    return [name for name in found if name is not None]


@dataclass(frozen=True)
class Refusal:
    """An automation the server cannot take: it does not enable `feature`."""

    automation: Automation
    feature: str

    def __str__(self) -> str:
        auto = self.automation
        where = f"{auto.origin.path}: " if auto.origin else ""
        return (
            f"{where}automation {auto.entity}/{auto.name}: {auto.event.kind} needs the "
            f"server feature {self.feature}, which the server does not enable"
        )


def refusals(automations: Iterable[Automation], enabled: frozenset[str]) -> list[Refusal]:
    """What the server refuses among `automations`, given its enabled features."""
    out = []
    for auto in automations:
        scope_type = "ENTITY" if not auto.scope.project else "PROJECT"
        event_type, _ = encode_event(auto.event)
        out += [Refusal(auto, f) for f in needed(event_type, scope_type) if f not in enabled]
    return out

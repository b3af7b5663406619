"""The feature gates match the SDK's own table (wandb/automations/_compat.py)."""

from __future__ import annotations

# A dev dependency, imported outright: the SDK's own table is what this test checks.
import wandb.automations._compat as compat

from reconcile.core import features


def test_gated_events_and_scopes_are_the_sdks() -> None:
    from wandb.proto.wandb_internal_pb2 import ServerFeature

    gated_events = {
        event.value: ServerFeature.Name(feature)
        for event, feature in compat.EVENT_FEATURES.items()
        if event not in compat.UNGATED_EVENTS
    }
    gated_scopes = {
        scope.value: ServerFeature.Name(feature)
        for scope, feature in compat.SCOPE_FEATURES.items()
        if scope not in compat.UNGATED_SCOPES
    }
    assert gated_events == features.EVENT_FEATURES
    assert gated_scopes == features.SCOPE_FEATURES
    assert features.needed("ADD_ARTIFACT_TAG", "PROJECT") == ["AUTOMATION_EVENT_ADD_ARTIFACT_TAG"]
    assert features.needed("RUN_METRIC", "ENTITY") == ["AUTOMATION_SCOPE_ENTITY"]
    assert features.needed("LINK_MODEL", "ARTIFACT_COLLECTION") == []

"""Features the server is told to answer as not enabled: listed so, and refused."""

from __future__ import annotations

from pathlib import Path

from reconcile.server.api.app import create_app
from tests.server.helpers import CREATE_TRIGGER, InProcess, build_world, trigger_input

FEATURES = "{ serverInfo { features { name isEnabled } } }"


def test_a_disabled_feature_is_listed_off_and_its_event_refused(tmp_path: Path) -> None:
    app = create_app(
        tmp_path / "server.db", disabled=frozenset({"AUTOMATION_EVENT_ADD_ARTIFACT_TAG"})
    )
    try:
        world = build_world(InProcess(app))
        listed = world.member.ok(FEATURES)["serverInfo"]["features"]
        off = sorted(f["name"] for f in listed if not f["isEnabled"])
        assert off == ["AUTOMATION_EVENT_ADD_ARTIFACT_TAG"]
        assert {"name": "ARTIFACT_REGISTRY_SEARCH", "isEnabled": True} in listed
        tag = trigger_input(
            world.project_id,
            triggeringEventType="ADD_ARTIFACT_TAG",
            eventFilter='{"$or": [{"$and": [{"tag": {"$eq": "gold"}}]}]}',
        )
        assert world.admin.fails(CREATE_TRIGGER, tag) == (
            "BAD_USER_INPUT: ADD_ARTIFACT_TAG on a PROJECT scope needs "
            "AUTOMATION_EVENT_ADD_ARTIFACT_TAG, not enabled here"
        )
        world.admin.ok(CREATE_TRIGGER, trigger_input(world.project_id))
    finally:
        app.state.service.close()

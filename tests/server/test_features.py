"""Features the server is told to answer as not enabled: listed so, and refused."""

from __future__ import annotations

from pathlib import Path

from reconcile.server.app import create_app
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


ORG_FLAGS = """query OrgFeatureFlags($org: String!) {
  organization(name: $org) { featureFlags(rampIDType: OrgName) { rampKey isEnabled } } }"""


def test_the_organizations_entity_scope_flag_follows_the_server_feature(tmp_path: Path) -> None:
    """wandb-core's OrgFeatureFlags, which the SDK's system tests ask before using an
    entity scope: on with AUTOMATION_SCOPE_ENTITY, off when that feature is disabled."""
    for disabled, expected in (
        (frozenset(), True),
        (frozenset({"AUTOMATION_SCOPE_ENTITY"}), False),
    ):
        app = create_app(tmp_path / f"server-{expected}.db", disabled=disabled)
        try:
            world = build_world(InProcess(app))
            found = world.member.ok(ORG_FLAGS, {"org": "acme"})["organization"]
            assert found == {
                "featureFlags": [{"rampKey": "automation_entity_scope", "isEnabled": expected}]
            }
            assert world.outsider.ok(ORG_FLAGS, {"org": "acme"}) == {"organization": None}
        finally:
            app.state.service.close()

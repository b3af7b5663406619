"""`POST /api/v1/events`: answers, validation, scopes, repeats and atomic batches."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from reconcile.server.runtime import events as server_events
from tests.server.helpers import ORG_ENTITY, TEAM, World, basic, trigger_input
from tests.server.runtime.receiver import Receiver
from tests.server.runtime.support import (
    alias_automation,
    alias_event,
    drain,
    emit,
    hook_with_secrets,
)


def _deliveries(world: World) -> list[Any]:
    with world.db.read() as con:
        return con.execute("SELECT automation, status FROM deliveries ORDER BY id").fetchall()


def test_an_event_fires_matching_automations_only(world: World, receiver: Receiver) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.project_id, hook, "promote")
    alias_automation(world.admin, world.project_id, hook, "staging", pattern="^staging$")
    answer = emit(world, {"events": [alias_event("e1"), alias_event("e2", "staging")]})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {
        "events": [
            {"id": "e1", "automations": ["promote"]},
            {"id": "e2", "automations": ["staging"]},
        ]
    }
    assert [tuple(r) for r in _deliveries(world)] == [
        ("promote", "pending"),
        ("staging", "pending"),
    ]


def test_a_repeated_id_is_acknowledged_and_fires_nothing_again(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.project_id, hook)
    emit(world, alias_event("same"))
    again = emit(world, {"events": [alias_event("same")]})
    assert again.status_code == 202
    assert again.json() == {"events": [{"id": "same", "automations": ["promote"]}]}
    assert len(_deliveries(world)) == 1


def test_an_event_without_id_gets_ours(world: World) -> None:
    event = alias_event("x")
    del event["id"]
    answer = emit(world, event)
    (only,) = answer.json()["events"]
    assert only["id"].startswith("evt_")
    assert only["automations"] == []


def test_invalid_input_names_the_index_and_field(world: World) -> None:
    bad = alias_event("b")
    bad["artifact"] = {"type": "model", "version": "three"}
    worse = {**alias_event("c"), "alias": 7}
    answer = emit(world, {"events": [alias_event("a"), bad, worse]})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["index"], error["field"]) == (1, "artifact.version")
    # Every problem of the batch, the first also told on its own.
    assert error["problems"] == [
        {"index": 1, "field": "artifact.version", "message": error["message"]},
        {
            "index": 2,
            "field": "alias",
            "message": "must be a non-empty string of at most 1024 characters",
        },
    ]


def test_unknown_scope_is_404_and_nothing_of_the_batch_is_stored(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.project_id, hook)
    unknown = {**alias_event("u"), "project": "nowhere"}
    answer = emit(world, {"events": [alias_event("first"), unknown]})
    assert answer.status_code == 404
    assert answer.json() == {
        "error": {
            "message": "project nowhere not found in entity acme",
            "index": 1,
            "code": "NOT_FOUND",
        }
    }
    assert _deliveries(world) == []
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_authentication_and_membership(world: World) -> None:
    assert emit(world, alias_event("k"), key="local-" + "x" * 40).status_code == 401
    answer = world.client.post("/api/v1/events", json=alias_event("k"))
    assert answer.status_code == 401
    # To someone outside the team, the team does not exist.
    assert emit(world, alias_event("k"), key=world.outsider.key).status_code == 404
    assert emit(world, alias_event("k"), key=world.member.key).status_code == 202
    # A viewer reads only, as in W&B.
    from reconcile.server.admin import tasks as admin

    admin.set_role(world.db, TEAM, "mia", "viewer")
    refused = emit(world, alias_event("v"), key=world.member.key)
    assert (refused.status_code, refused.json()) == (
        403,
        {
            "error": {
                "message": "permission denied: viewers of team acme cannot send events",
                "index": 0,
                "code": "FORBIDDEN",
            }
        },
    )


def test_a_new_collection_is_created_and_registry_automations_see_it(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.registry_id, hook, "registry-wide")
    event = {**alias_event("r1", collection="brand-new"), "registry": "models"}
    del event["project"]
    answer = emit(world, event)
    assert answer.json() == {"events": [{"id": "r1", "automations": ["registry-wide"]}]}
    with world.db.read() as con:
        names = [r[0] for r in con.execute("SELECT name FROM collections ORDER BY id")]
    assert names[-1] == "brand-new"
    assert TEAM == "acme"


def test_disabled_automations_never_fire(world: World, receiver: Receiver) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.project_id, hook, enabled=False)
    assert emit(world, alias_event("d")).json()["events"][0]["automations"] == []


def test_delivery_is_signed_and_carries_the_token(world: World, receiver: Receiver) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.project_id, hook)
    emit(world, alias_event("s1"))
    assert drain(world) == 0
    (got,) = receiver.requests
    from reconcile.runtime import signing
    from tests.server.runtime.support import SECRET, TOKEN

    assert got.headers["authorization"] == f"Bearer {TOKEN}"
    assert signing.verify_wandb(SECRET, got.body, got.headers["x-wandb-signature"])
    assert got.headers["webhook-id"] == signing.delivery_id("acme", "s1", "promote")
    assert got.body == (
        b'{"event":"ADD_ARTIFACT_ALIAS","alias":"prod","token":"' + TOKEN.encode() + b'"}'
    )


def test_an_automation_that_cannot_render_is_failed_and_says_why(
    world: World, receiver: Receiver
) -> None:
    from tests.server.helpers import webhook

    bare = webhook(world.admin, "bare", urlEndpoint=receiver.url("/ok"))  # no access token
    alias_automation(world.admin, world.project_id, bare)  # its payload uses ${ACCESS_TOKEN}
    answer = emit(world, alias_event("unrenderable"))
    assert answer.status_code == 202
    assert answer.json()["events"][0]["automations"] == ["promote"]
    assert [tuple(r) for r in _deliveries(world)] == [("promote", "failed")]
    with world.db.read() as con:
        (error, detail) = con.execute("SELECT error, detail FROM attempts").fetchone()
    assert error == "render"
    assert "ACCESS_TOKEN" in detail


def test_a_registry_events_artifact_version_string_names_the_organizations_entity(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    made = trigger_input(world.registry_id, hook, name="registry-wide")
    made["input"]["eventFilter"] = json.dumps({"$or": [{"$and": []}]})
    config = made["input"]["triggeredActionConfig"]["genericWebhookActionInput"]
    config["requestPayload"] = '{"v": "${artifact_version_string}", "e": "${entity_name}"}'
    world.admin.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        made,
    )
    event = {**alias_event("org1", collection="fraud"), "registry": "models"}
    del event["project"]
    assert emit(world, event).status_code == 202
    assert drain(world) == 0
    (got,) = receiver.requests
    assert json.loads(got.body) == {
        "v": f"{ORG_ENTITY}/wandb-registry-models/fraud:v3",
        "e": TEAM,
    }


def test_the_organizations_entity_is_refused_as_an_events_entity(
    world: World, receiver: Receiver
) -> None:
    """Only teams send events: the organization's entity would fire its teams' registry
    automations a second time, under other delivery ids."""
    hook = hook_with_secrets(world, receiver.url("/ok"))
    alias_automation(world.admin, world.registry_id, hook, "registry-wide", pattern=".*")
    event = {**alias_event("org-sent", collection="fraud"), "registry": "models"}
    del event["project"]
    assert emit(world, event).status_code == 202  # as the team: fires once
    answer = emit(world, {"events": [{**event, "id": "other"}, {**event, "entity": ORG_ENTITY}]})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["index"], error["field"], error["code"]) == (1, "entity", "BAD_USER_INPUT")
    assert error["message"] == (
        f"entity '{ORG_ENTITY}' is an organization's entity: events are sent by teams; name "
        "the team the event happened in (its registries are the organization's)"
    )
    with world.db.read() as con:
        keys = [r[0] for r in con.execute("SELECT event_key FROM events")]
    assert keys == ["org-sent"]  # nothing of the refused batch
    assert [tuple(r) for r in _deliveries(world)] == [("registry-wide", "pending")]


def _other_teams_automation(world: World, receiver: Receiver) -> None:
    """Team `other` (admin: the world's outsider) with its own project `vision`, webhook
    and alias automation."""
    from reconcile.server.admin import tasks as admin
    from tests.server.helpers import webhook

    admin.ensure_project(world.db, "other", "vision")
    olga = world.outsider
    project = olga.ok('{ project(name: "vision", entityName: "other") { id } }')["project"]
    hook = webhook(olga, "theirs", entityName="other", urlEndpoint=receiver.url("/ok"))
    made = trigger_input(project["id"], hook, name="theirs")
    olga.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        made,
    )


def test_an_event_id_is_unique_per_team(world: World, receiver: Receiver) -> None:
    """The same id from another team is that team's own event; a repeat from the same
    team fires nothing again."""
    alias_automation(world.admin, world.project_id, hook_with_secrets(world, receiver.url("/ok")))
    _other_teams_automation(world, receiver)
    ours = emit(world, alias_event("same"))
    theirs = emit(world, {**alias_event("same"), "entity": "other"}, key=world.outsider.key)
    again = emit(world, alias_event("same"))
    assert [a.json()["events"] for a in (ours, theirs, again)] == [
        [{"id": "same", "automations": ["promote"]}],
        [{"id": "same", "automations": ["theirs"]}],
        [{"id": "same", "automations": ["promote"]}],
    ]
    with world.db.read() as con:
        rows = con.execute(
            "SELECT n.name, e.event_key FROM events e JOIN entities n ON n.id = e.entity_id "
            "ORDER BY e.id"
        ).fetchall()
    assert [tuple(r) for r in rows] == [(TEAM, "same"), ("other", "same")]
    assert [tuple(r) for r in _deliveries(world)] == [
        ("promote", "pending"),
        ("theirs", "pending"),
    ]


UNAUTHENTICATED = [None, "Bearer local-" + "x" * 40, "Basic !!!"]
BODIES = [
    b"{not json",
    json.dumps({"events": [{"type": "no_such_event"}]}).encode(),
    json.dumps(alias_event("fine")).encode(),
]


@pytest.mark.parametrize("authorization", UNAUTHENTICATED)
def test_an_unauthenticated_request_is_refused_with_its_body_unparsed_and_undescribed(
    world: World, monkeypatch: pytest.MonkeyPatch, authorization: str | None
) -> None:
    parsed: list[bytes] = []
    real = server_events.prepare

    def prepare(raw: bytes) -> Any:
        parsed.append(raw)
        return real(raw)

    monkeypatch.setattr(server_events, "prepare", prepare)
    headers = {} if authorization is None else {"Authorization": authorization}
    answers = [
        world.client.post("/api/v1/events", content=body, headers=headers) for body in BODIES
    ]
    # One answer whatever the body holds (bad JSON, a bad event, a good one): nothing
    # about the body is told to a caller without a key.
    assert {(a.status_code, a.content) for a in answers} == {
        (answers[0].status_code, answers[0].content)
    }
    assert answers[0].status_code == 401
    assert parsed == []
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    # The same bodies with a key are parsed (the spy sees them) and described.
    keyed = basic(world.admin.key)
    described = world.client.post("/api/v1/events", content=BODIES[1], headers=keyed)
    assert described.status_code == 400
    assert "no_such_event" in described.text
    assert parsed == [BODIES[1]]


BAD_NAMES = [
    ("line\nbreak", "invalid collection name: control or bidirectional character U+000A"),
    ("nul\x00", "invalid collection name: control or bidirectional character U+0000"),
    ("rtl\u202egpj.exe", "invalid collection name: control or bidirectional character U+202E"),
    ("mark\u200f", "invalid collection name: control or bidirectional character U+200F"),
    ("x" * 1024, "invalid collection name 'xxxxx"),
    ("a/b", "invalid collection name 'a/b': letters, digits, '-', '_' and '.'"),
    ("two words", "invalid collection name 'two words': letters, digits, '-', '_' and '.'"),
]


@pytest.mark.parametrize(("name", "message"), BAD_NAMES)
def test_a_collection_name_graphql_refuses_is_refused(
    world: World, name: str, message: str
) -> None:
    answer = emit(world, {"events": [alias_event("fine"), alias_event("bad", collection=name)]})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["index"], error["field"]) == (1, "collection")
    assert error["message"].startswith(message)
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
        names = {r[0] for r in con.execute("SELECT name FROM collections")}
    assert names == {"detector", "prod-detector"}


def test_an_artifact_type_graphql_refuses_is_refused(world: World) -> None:
    event = alias_event("typed")
    event["artifact"]["type"] = "mo\u2066del"
    answer = emit(world, event)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["index"], error["field"]) == (0, "artifact.type")
    assert error["message"] == (
        "invalid artifact type name: control or bidirectional character U+2066 at position 2"
    )


def test_a_body_over_the_limit_is_failed_with_its_reason_and_not_sent(
    world: World, receiver: Receiver
) -> None:
    from reconcile.runtime.render import MAX_BODY_BYTES

    hook = hook_with_secrets(world, receiver.url("/ok"))
    made = trigger_input(world.project_id, hook)
    copies = ", ".join(f'"c{n}": "${{artifact_metadata.big}}"' for n in range(5))
    made["input"]["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = (
        "{" + copies + "}"
    )
    world.admin.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        made,
    )
    event = alias_event("huge")
    event["artifact"]["metadata"] = {"big": "x" * 60_000}  # 5 copies: 300,000 bytes
    answer = emit(world, event)
    assert answer.status_code == 202
    assert answer.json()["events"] == [{"id": "huge", "automations": ["promote"]}]
    assert drain(world) == 0
    assert receiver.requests == []
    with world.db.read() as con:
        (status, shown) = con.execute("SELECT status, shown FROM deliveries").fetchone()
        (error, detail) = con.execute("SELECT error, detail FROM attempts").fetchone()
    assert (status, shown, error) == ("failed", "", "render")
    assert detail == (
        f"the rendered body is 300000 bytes or more; a delivery sends at most {MAX_BODY_BYTES} "
        "bytes (the payload copies too much event data)"
    )


def _raw(**changes: Any) -> bytes:
    return json.dumps({**alias_event("bad"), **changes}).encode()


def _deep(levels: int) -> bytes:
    """An event whose metadata nests `levels` deep (the metadata object is level 1)."""
    event = alias_event("deep")
    event["artifact"]["metadata"] = {"d": "HOLE"}
    nested = "[" * (levels - 1) + "1" + "]" * (levels - 1)
    return json.dumps(event).replace('"HOLE"', nested).encode()


# (case, body, status, a part of the message)
BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("empty", b"", 400, "not valid JSON"),
    ("not UTF-8", b'{"type": "\xff\xfe"}', 400, "not valid JSON"),
    ("a number", b"42", 400, "an event must be a JSON object"),
    ("nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, 400, "it nests too deeply"),
    ("metadata nested 985 deep", _deep(985), 400, "nests"),
    ("metadata nested 33 deep", _deep(33), 400, "nests deeper than 32 levels"),
    (
        "metadata of 100 KB",
        _raw(artifact={"version": 1, "metadata": {"m": "x" * 100_000}}),
        400,
        "is 100008 bytes of JSON; the limit is 65536",
    ),
    (
        "NaN",
        _raw(artifact={"version": 1, "metadata": {"m": 1}}).replace(b"1}", b"NaN}"),
        400,
        "NaN is not a JSON number",
    ),
    (
        "version 1e400",
        _raw().replace(b'"version": 3', b'"version": 1e400'),
        400,
        "must be a whole number",
    ),
    (
        "version 2**64",
        _raw().replace(b'"version": 3', b'"version": 18446744073709551616'),
        400,
        "must be a whole number",
    ),
    ("a lone surrogate", _raw().replace(b'"prod"', b'"\\ud800"'), 400, "lone surrogate"),
    ("id of 1,025 characters", _raw(id="i" * 1025), 400, "at most 1024 characters"),
    (
        "1,001 events",
        json.dumps({"events": [alias_event("x")] * 1001}).encode(),
        400,
        "'events' must be a list of 1 to 1000 events",
    ),
    ("events not a list", b'{"events": {}}', 400, "'events' must be a list"),
    ("the organization's entity", _raw(entity=ORG_ENTITY), 400, "an organization's entity"),
    ("a collection with a newline", _raw(collection="a\nb"), 400, "U+000A"),
    ("a collection of 1,024 characters", _raw(collection="c" * 1024), 400, "collection name"),
    ("an unknown entity", _raw(entity="nobody"), 404, "'nobody' not found"),
    ("an unknown project", _raw(project="nowhere"), 404, "nowhere"),
    ("over 8 MiB", b" " * (8 * 1024 * 1024 + 1), 413, "larger than 8388608 bytes"),
]


@pytest.mark.parametrize(
    ("raw", "status", "part"),
    [case[1:] for case in BAD_BODIES],
    ids=[case[0] for case in BAD_BODIES],
)
def test_s10_bad_input_is_a_4xx_naming_the_problem(
    world: World, raw: bytes, status: int, part: str
) -> None:
    answer = world.client.post(
        "/api/v1/events",
        content=raw,
        headers={**basic(world.admin.key), "Content-Type": "application/json"},
    )
    assert answer.status_code == status, answer.text
    assert part in answer.json()["error"]["message"]
    with world.db.read() as con:
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0


def test_a_restricted_registry_takes_events_from_its_members_only(world: World) -> None:
    restrict = """mutation { upsertModel(input: {entityName: "acme-org",
      name: "wandb-registry-models", access: "RESTRICTED"}) { project { access } } }"""
    world.admin.ok(restrict)
    event = {**alias_event("restricted", collection="prod-detector"), "registry": "models"}
    del event["project"]
    refused = emit(world, event, key=world.member.key)  # mia: not a member of `models`
    assert refused.status_code == 404
    assert refused.json()["error"]["message"] == "registry models not found in entity acme"
    absent = emit(world, {**event, "registry": "absent"}, key=world.member.key)
    assert absent.json()["error"]["message"] == "registry absent not found in entity acme"
    assert emit(world, event, key=world.registry_admin.key).status_code == 202  # its admin


def test_a_new_collection_takes_the_events_artifact_type_or_model(world: World) -> None:
    base = {"entity": TEAM, "project": "vision"}
    created = {"type": "artifact_created", "collection": "fresh-data", "id": "c1"}
    created["artifact"] = {"type": "dataset", "version": 0}
    tagged = {"type": "collection_tag_added", "collection": "fresh-tagged", "tag": "x"}
    answer = emit(world, {"events": [base | created, base | tagged | {"id": "c2"}]})
    assert answer.status_code == 202, answer.text
    with world.db.read() as con:
        rows = con.execute(
            "SELECT name, type_name FROM collections WHERE name LIKE 'fresh-%' ORDER BY id"
        ).fetchall()
    assert [tuple(r) for r in rows] == [("fresh-data", "dataset"), ("fresh-tagged", "model")]


def test_a_collections_automation_fires_for_its_collections_events_only(
    world: World, receiver: Receiver
) -> None:
    hook = hook_with_secrets(world, receiver.url("/ok"))
    scope = {"scopeType": "ARTIFACT_COLLECTION"}
    alias_automation(world.admin, world.collection_id, hook, "detector-only", **scope)
    answer = emit(world, {"events": [alias_event("d1"), alias_event("o1", collection="other")]})
    assert [one["automations"] for one in answer.json()["events"]] == [["detector-only"], []]


def test_events_stored_by_another_write_name_its_artifact_version_and_app(world: World) -> None:
    """`store_within` (a GraphQL write, the SDK's stream): `${artifact_version}` names the
    version each event is about, and a run's link is on the server's app URL."""
    from reconcile.server.api import auth
    from tests.server.helpers import webhook

    hook = webhook(world.admin, "tracker", urlEndpoint="http://127.0.0.1:9/")
    for name, kind, payload in (
        ("versions", "ADD_ARTIFACT_ALIAS", '{"v": "${artifact_version}"}'),
        ("runs", "RUN_STATE", '{"url": "${run_url}"}'),
    ):
        made = trigger_input(world.project_id, hook, name=name)["input"]
        made["triggeringEventType"] = kind
        if kind == "RUN_STATE":
            made["eventFilter"] = json.dumps(
                {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}
            )
        made["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = payload
        world.admin.ok(
            """mutation ($input: CreateFilterTriggerInput!) {
                 createFilterTrigger(input: $input) { trigger { id } } }""",
            {"input": made},
        )
    run = {"type": "run_state", "entity": TEAM, "project": "vision", "state": "failed"}
    raw = {"events": [alias_event("a1"), alias_event("a2"), run | {"run": {"id": "r1"}}]}
    parsed = server_events.prepare(json.dumps(raw).encode())
    box = world.client.app.state.service.box
    with world.db.write() as con:
        user = auth.authenticate(con, basic(world.admin.key)["Authorization"])
        accepted = server_events.store_within(
            con, box, user, parsed, "https://wandb.example/", artifact_ids=[41]
        )
        # Without an app URL (the SDK's stream, GraphQL's writes): W&B's.
        again = server_events.prepare(json.dumps(run | {"run": {"id": "r2"}}).encode())
        server_events.store_within(con, box, user, again)
    with world.db.read() as con:
        shown = [json.loads(r[0]) for r in con.execute("SELECT shown FROM deliveries ORDER BY id")]
    event_row = 2  # a2's own row: the number when no version is given
    assert shown == [
        {"v": "wandb-artifact://_id/" + base64.b64encode(b"Artifact:41").decode()},
        {
            "v": "wandb-artifact://_id/"
            + base64.b64encode(f"Artifact:{event_row}".encode()).decode()
        },
        {"url": "https://wandb.example/acme/vision/runs/r1"},
        {"url": "https://wandb.ai/acme/vision/runs/r2"},
    ]
    assert [due.id for due in accepted.queued] == [1, 2, 3]  # each handed to the worker


def test_ingest_answers_as_the_events_api_does(world: World) -> None:
    """`ingest` (`reconcile emit --db`, no HTTP) gives the HTTP API's answer."""
    box = world.client.app.state.service.box
    good = json.dumps(alias_event("x")).encode()
    cases = [(None, good), ("Basic !!!", good), (world.outsider.key, good), (world.admin.key, b"{")]
    answers = []
    for key, raw in cases:
        header = basic(key)["Authorization"] if key and not key.startswith("Basic") else key
        answer, queued = server_events.ingest(world.db, box, header, raw, "https://wandb.ai")
        http = world.client.post(
            "/api/v1/events", content=raw, headers={"Authorization": header} if header else {}
        )
        assert (answer, queued) == ((http.status_code, http.json()), [])
        answers.append(answer)
    assert answers[0] == (
        401,
        {
            "error": {
                "message": "authentication required: send an API key",
                "code": "UNAUTHENTICATED",
            }
        },
    )
    assert [status for status, _body in answers] == [401, 401, 404, 400]


def test_an_event_is_stored_and_rendered_with_its_id_and_author_or_ours(world: World) -> None:
    """Without an author, the sender's user is the event's author; without an id, the
    server's id names the event everywhere (its delivery id, its stored document)."""
    from reconcile.runtime import signing
    from tests.server.helpers import webhook

    hook = webhook(world.admin, "who", urlEndpoint="http://127.0.0.1:9/")
    made = trigger_input(world.project_id, hook, name="who")["input"]
    made["eventFilter"] = json.dumps({"$or": [{"$and": []}]})
    payload = '{"by": "${event_author}"}'
    made["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = payload
    world.admin.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        {"input": made},
    )
    unnamed = {**alias_event("x"), "author": "ci-bot"}
    del unnamed["id"]
    answer = emit(world, {"events": [alias_event("mine"), unnamed]}, key=world.member.key)
    ids = [one["id"] for one in answer.json()["events"]]
    assert ids[0] == "mine"
    with world.db.read() as con:
        shown = [json.loads(r[0]) for r in con.execute("SELECT shown FROM deliveries ORDER BY id")]
        hooks = [r[0] for r in con.execute("SELECT webhook_id FROM deliveries ORDER BY id")]
        documents = [
            json.loads(r[0]) for r in con.execute("SELECT document FROM events ORDER BY id")
        ]
    assert shown == [{"by": "mia"}, {"by": "ci-bot"}]
    assert hooks == [signing.delivery_id(TEAM, key, "who") for key in ids]
    assert [(d["id"], d["author"]) for d in documents] == [("mine", "mia"), (ids[1], "ci-bot")]
    assert documents[1]["alias"] == "prod"


def test_a_runs_link_is_on_the_servers_app_url(world: World) -> None:
    from tests.server.helpers import webhook

    hook = webhook(world.admin, "runs", urlEndpoint="http://127.0.0.1:9/")
    made = trigger_input(world.project_id, hook, name="runs")["input"]
    made["triggeringEventType"] = "RUN_STATE"
    made["eventFilter"] = json.dumps(
        {"run_filter": '{"$and":[]}', "run_state_filter": {"states": ["FAILED"]}}
    )
    made["triggeredActionConfig"]["genericWebhookActionInput"]["requestPayload"] = (
        '{"url": "${run_url}"}'
    )
    world.admin.ok(
        """mutation ($input: CreateFilterTriggerInput!) {
             createFilterTrigger(input: $input) { trigger { id } } }""",
        {"input": made},
    )
    run = {"type": "run_state", "entity": TEAM, "project": "vision", "state": "failed"}
    answer = emit(world, run | {"id": "r", "run": {"id": "r1"}})
    assert answer.status_code == 202, answer.text
    # `ingest` (`reconcile emit --db`) is given the app's URL by its caller.
    raw = json.dumps(run | {"id": "s", "run": {"id": "r2"}}).encode()
    box, key = world.client.app.state.service.box, basic(world.admin.key)["Authorization"]
    server_events.ingest(world.db, box, key, raw, "https://wandb.example")
    with world.db.read() as con:
        shown = [json.loads(r[0]) for r in con.execute("SELECT shown FROM deliveries ORDER BY id")]
    assert shown == [
        {"url": "https://wandb.ai/acme/vision/runs/r1"},
        {"url": "https://wandb.example/acme/vision/runs/r2"},
    ]


def test_a_key_revoked_before_its_request_is_stored_refuses_that_request_only(
    world: World,
) -> None:
    """`store_many` checks each request's key again in the write transaction."""
    box = world.client.app.state.service.box
    parsed = server_events.prepare(json.dumps(alias_event("kept")).encode())
    refused = server_events.prepare(json.dumps(alias_event("refused")).encode())
    good = basic(world.admin.key)["Authorization"]
    gone = basic("local-" + "x" * 40)["Authorization"]  # as a key revoked since its parse
    results = server_events.store_many(
        world.db, box, [(good, parsed), (gone, refused)], "https://wandb.ai"
    )
    assert [answer for answer, _queued in results] == [
        (202, {"events": [{"id": "kept", "automations": []}]}),
        (401, {"error": {"message": "invalid API key", "code": "UNAUTHENTICATED"}}),
    ]
    with world.db.read() as con:
        assert [r[0] for r in con.execute("SELECT event_key FROM events")] == ["kept"]

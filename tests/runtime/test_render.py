"""Rendering: variable values, S4 (event data never changes the JSON), masking, Slack."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import pytest

from reconcile.core.events import EVENTS
from reconcile.core.model import Action, Automation, Event, Scope, Webhook
from reconcile.inventory import build
from reconcile.runtime import variables
from reconcile.runtime.incoming import Artifact, IncomingEvent, Run
from reconcile.runtime.render import (
    MAX_BODY_BYTES,
    MIN_MASKED,
    RenderError,
    mask_text,
    mask_values,
    masked_excerpt,
    render,
    url_secrets,
)
from reconcile.runtime.samples import sample_event
from reconcile.runtime.variables import Facts

HOOK = Webhook("ml", "deploy", "https://x.example/h", access_token="TOK", secret="SIGNING_KEY")
SECRETS = {"TOK": "tok-value-1234", "SIGNING_KEY": "key-value-5678"}
ALIAS_EVENT_KIND = Event("alias_added", {"alias": None})
HOSTILE = 'a"b\\c}${entity_name}\n\t\u0000\u2028</script>{"x":1}'


def automation(
    kind: str, params: dict[str, Any], payload: Any, scope: Scope | None = None
) -> Automation:
    event = build.event({kind: params})
    action = Action("webhook", {"to": "deploy", "payload": payload})
    return Automation("ml", "auto", scope or Scope("wandb-registry-model", "fraud"), event, action)


ALIAS_EVENT = IncomingEvent(
    "alias_added",
    "ml",
    "wandb-registry-model",
    registry="model",
    collection="fraud",
    artifact=Artifact(3, "model", MappingProxyType({"acc": 0.96, "tags": ["a", "b"], "s": "x"})),
    alias="production",
    author="ann",
)
RUN_EVENT = IncomingEvent(
    "run_logged",
    "ml",
    "p",
    run=Run("1x2y", "sweep-7"),
    metrics=MappingProxyType({"val_loss": 0.04, "epoch": 3}),
)


def body(auto: Automation, event: IncomingEvent, **facts: Any) -> Any:
    rendered = render(Facts(auto, event, **facts), HOOK, SECRETS)
    assert rendered is not None
    return json.loads(rendered.body)


def test_artifact_variables() -> None:
    names = [
        "project_name",
        "entity_name",
        "event_type",
        "event_author",
        "artifact_version",
        "artifact_version_string",
        "artifact_collection_name",
        "alias",
        "artifact_metadata.acc",
        "artifact_metadata.tags",
        "artifact_metadata.s",
        "artifact_metadata.missing",
    ]
    auto = automation("alias_added", {"alias": "^production$"}, {n: f"${{{n}}}" for n in names})
    got = body(auto, ALIAS_EVENT, artifact_id=42)
    assert got == {
        "project_name": "wandb-registry-model",
        "entity_name": "ml",
        "event_type": "ADD_ARTIFACT_ALIAS",
        "event_author": "ann",
        "artifact_version": "wandb-artifact://_id/" + base64.b64encode(b"Artifact:42").decode(),
        "artifact_version_string": "ml/wandb-registry-model/fraud:v3",
        "artifact_collection_name": "fraud",
        "alias": "production",
        "artifact_metadata.acc": "0.96",
        "artifact_metadata.tags": '["a","b"]',
        "artifact_metadata.s": "x",
        "artifact_metadata.missing": "",
    }


def test_link_renders_as_link_artifact_and_run_variables() -> None:
    link = automation("artifact_linked", {}, {"t": "${event_type}"})
    assert body(link, replace(ALIAS_EVENT, type="artifact_linked")) == {"t": "LINK_ARTIFACT"}
    names = ["run_id", "run_name", "run_url", "metric_name", "metric_value", "event_type"]
    auto = automation(
        "run_metric",
        {"metric": "val_loss", "below": 0.05},
        {n: f"${{{n}}}" for n in names},
        Scope("p"),
    )
    assert body(auto, RUN_EVENT) == {
        "run_id": "1x2y",
        "run_name": "sweep-7",
        "run_url": "https://wandb.ai/ml/p/runs/1x2y",
        "metric_name": "val_loss",
        "metric_value": "0.04",
        "event_type": "RUN_METRIC",
    }
    # The value that made an aggregate fire, when the worker gives it; whole numbers without .0.
    assert body(auto, RUN_EVENT, metric=("val_loss", 2.0))["metric_value"] == "2"


def test_a_string_that_is_exactly_one_numeric_variable_stays_a_string() -> None:
    auto = automation(
        "run_metric", {"metric": "epoch", "above": 2}, {"v": "${metric_value}", "n": 7}, Scope("p")
    )
    assert body(auto, RUN_EVENT) == {"v": "3", "n": 7}


@pytest.mark.parametrize("field", ["alias", "author", "collection", "metadata", "run_name"])
def test_s4_event_data_never_adds_keys_or_breaks_the_json(field: str) -> None:
    payload = {
        "a": "${alias}",
        "who": "${event_author}",
        "c": "<${artifact_collection_name}>",
        "m": "${artifact_metadata.k}",
        "list": ["${alias}", 1, None, True],
    }
    event = ALIAS_EVENT
    if field == "metadata":
        event = replace(event, artifact=Artifact(3, "model", MappingProxyType({"k": HOSTILE})))
    elif field != "run_name":
        event = replace(event, **{field: HOSTILE})
    auto = automation("alias_added", {}, payload)
    rendered = render(Facts(auto, event), HOOK, SECRETS)
    assert rendered is not None
    got = json.loads(rendered.body)
    assert list(got) == ["a", "who", "c", "m", "list"]
    assert got["list"][1:] == [1, None, True]
    expected = {
        "alias": got["a"],
        "author": got["who"],
        "collection": got["c"][1:-1],
        "metadata": got["m"],
        "run_name": None,
    }[field]
    if expected is not None:
        assert expected == HOSTILE  # the value arrives intact, `${...}` inside it not expanded


def test_s4_run_names_with_json_syntax_stay_inside_their_string() -> None:
    auto = automation("run_state", {"states": ["failed"]}, {"r": "${run_name}"}, Scope("p"))
    event = IncomingEvent("run_state", "ml", "p", run=Run("i", HOSTILE), state="failed")
    rendered = render(Facts(auto, event), HOOK, SECRETS)
    assert rendered is not None
    assert json.loads(rendered.body) == {"r": HOSTILE}
    assert b"\n" not in rendered.body  # control characters are escaped, not raw


def test_secrets_are_sent_but_masked_in_what_is_shown() -> None:
    payload = {"auth": "Bearer ${ACCESS_TOKEN}", "key": "${SIGNING_KEY}", "echo": "${alias}"}
    auto = automation("alias_added", {}, payload)
    leaking = replace(ALIAS_EVENT, alias="tok-value-1234")  # event data that holds a secret
    rendered = render(Facts(auto, leaking), HOOK, SECRETS)
    assert rendered is not None
    assert json.loads(rendered.body) == {
        "auth": "Bearer tok-value-1234",
        "key": "key-value-5678",
        "echo": "tok-value-1234",
    }
    assert json.loads(rendered.shown) == {"auth": "Bearer ***", "key": "***", "echo": "***"}
    offline = render(Facts(auto, ALIAS_EVENT), HOOK)
    assert offline is not None
    assert offline.body == offline.shown == b'{"auth":"Bearer ***","key":"***","echo":"production"}'


def test_mask_text_for_answers_that_echo_a_secret() -> None:
    echoed = 'bad token "tok-value-1234"; key=key-value-5678; abc'
    assert mask_text(echoed, [*SECRETS.values(), "abc"]) == 'bad token "***"; key=***; abc'


WEIRD = 'tok/é"\\ 12&+'  # a value whose forms all differ


@pytest.mark.parametrize(
    "spelled",
    [
        WEIRD,
        'tok/\\u00e9\\"\\\\ 12&+',  # JSON, ASCII only
        'tok/é\\"\\\\ 12&+',  # JSON, as written
        'tok\\/\\u00e9\\"\\\\ 12&+',  # JSON with `/` escaped
        "tok%2F%C3%A9%22%5C%2012%26%2B",  # percent-encoded
        "tok%2F%C3%A9%22%5C+12%26%2B",  # form-encoded
    ],
)
def test_every_spelling_of_a_secret_is_masked(spelled: str) -> None:
    text = f"<{spelled}>"
    assert mask_text(text, [WEIRD]) == "<***>"
    assert mask_values(text.encode(), [WEIRD]) == b"<***>"


def test_an_excerpt_is_masked_before_it_is_cut() -> None:
    token = "tok-value-1234"
    for at in range(len(token) + 2):  # the cut falls at every position of the token
        answer = "x" * (20 - at) + token + "y" * 30
        excerpt = masked_excerpt(answer, [token], 20)
        assert "tok" not in excerpt, (at, excerpt)
        assert excerpt.startswith("x" * (20 - at)), excerpt
    assert masked_excerpt("ab tok-value-1234 cd", [token], 20) == "ab *** cd"
    assert masked_excerpt("x" * 19 + "tok-value-1234", [token], 20) == "x" * 19 + "*"
    assert masked_excerpt("x" * 16 + "tok-", [token], 20, cut=True) == "x" * 16 + "***"
    assert masked_excerpt("x" * 16 + "tok-", [token], 20) == "x" * 16 + "tok-"  # whole: not cut
    split = "x" * 10 + "tok-é".encode()[:-1].decode("utf-8", "replace")  # cut inside é
    assert masked_excerpt(split, ["tok-é-value"], 20, cut=True) == "x" * 10 + "***"
    assert masked_excerpt("x" * 30, [token], 20) == "x" * 20


def test_a_cut_excerpt_masks_a_prefix_of_any_length_at_its_end_and_nothing_else() -> None:
    token = "tok-value-1234"
    for length in (1, 2, len(token) - 2, len(token) - 1):
        cut = "x" * 5 + token[:length]
        assert masked_excerpt(cut, [token], 40, cut=True) == "x" * 5 + "***", length
    # No prefix at the end, or nothing to mask: the excerpt as it is, nothing appended.
    assert masked_excerpt("answer endsX", [token], 40, cut=True) == "answer endsX"
    assert masked_excerpt("answer endsX", [], 40, cut=True) == "answer endsX"
    assert masked_excerpt("answer endsX", ["abc"], 40, cut=True) == "answer endsX"  # too short


def test_a_secret_of_the_shortest_masked_length_is_masked() -> None:
    value = "k" * MIN_MASKED
    assert mask_text(f"a {value} b", [value]) == "a *** b"
    assert mask_text(f"a {value[1:]} b", [value[1:]]) == f"a {value[1:]} b"


def test_a_form_holding_another_is_masked_whole() -> None:
    # JSON writes this value with its backslash doubled: the form as is lies inside that
    # one, and masking it first would leave a stray backslash.
    value = "\\secret-value"
    body = json.dumps({"token": value})
    assert mask_text(body, [value]) == '{"token": "***"}'


def test_what_of_a_url_is_masked_in_answers() -> None:
    assert url_secrets("https://h.example/a/b?c=1") == ["https://h.example/a/b?c=1", "/a/b?c=1"]
    assert url_secrets("https://h.example/") == ["https://h.example/"]
    assert url_secrets("https://h.example") == ["https://h.example"]


def test_missing_secret_value_is_a_clear_error() -> None:
    auto = automation("alias_added", {}, {"k": "${SIGNING_KEY}"})
    with pytest.raises(RenderError, match="needs the value of secret 'SIGNING_KEY'"):
        render(Facts(auto, ALIAS_EVENT), HOOK, {"TOK": "x"})
    # The variable and the secret it reads have different names here: both are named.
    with pytest.raises(RenderError) as raised:
        render(Facts(auto, ALIAS_EVENT), HOOK, {"SIGNING_KEY": "x"})
    assert str(raised.value) == (
        "${ACCESS_TOKEN} needs the value of secret 'TOK', which is not given"
    )


def test_unknown_variable_is_refused_not_left_in_place() -> None:
    auto = automation("alias_added", {}, {"k": "${runname}"})
    with pytest.raises(RenderError, match=r"\$\{runname\} has no value for alias_added events"):
        render(Facts(auto, ALIAS_EVENT), HOOK, SECRETS)


def test_a_variable_of_another_event_is_sent_blank_as_wandb_sends_it() -> None:
    auto = automation("alias_added", {}, {"k": "run ${run_name}.", "m": "${metric_value}"})
    rendered = render(Facts(auto, ALIAS_EVENT), HOOK, SECRETS)
    assert rendered is not None
    assert rendered.body == b'{"k":"run .","m":""}'


def test_every_variable_validate_accepts_has_a_value_for_every_event_kind() -> None:
    for kind, spec in EVENTS.items():
        params: dict[str, Any] = {"states": ["failed"]} if kind == "run_state" else {}
        if kind.startswith("run_metric"):
            params = (
                {"metric": "val_loss", "above": 1}
                if kind == "run_metric"
                else {"metric": "val_loss", "amount": 1, "direction": "any"}
            )
        scope = Scope("wandb-registry-model", "c") if spec.artifact else Scope("p")
        auto = automation(
            kind, params, {name: f"${{{name}}}" for name in sorted(spec.variables)}, scope
        )
        got = body(auto, sample_event(auto))
        assert sorted(got) == sorted(spec.variables)
        assert got["event_type"] == variables.event_type(auto)


def test_no_payload_sends_an_empty_object_and_no_op_sends_nothing() -> None:
    auto = automation("alias_added", {}, None)
    assert body(auto, ALIAS_EVENT) == {}
    noop = replace(auto, action=Action("no_op", {}))
    assert render(Facts(noop, ALIAS_EVENT), None) is None


def test_text_is_sent_as_utf_8_not_escaped() -> None:
    auto = automation("alias_added", {}, {"a": "${alias}", "é": "ü"})
    rendered = render(Facts(auto, replace(ALIAS_EVENT, alias="prêt\u2028")), HOOK, SECRETS)
    assert rendered is not None
    assert rendered.body == rendered.shown == '{"a":"prêt\u2028","é":"ü"}'.encode()


def test_slack_body_from_title_message_and_severity() -> None:
    action = build.action(
        {
            "slack": {
                "channel": "#ml",
                "title": "Run <failed>",
                "message": "see *logs* & fix",
                "severity": "warn",
            }
        }
    )
    auto = Automation("ml", "a", Scope("p"), Event("run_state", {"states": ["failed"]}), action)
    event = IncomingEvent("run_state", "ml", "p", run=Run("r1", "train-3"), state="failed")
    rendered = render(Facts(auto, event), None)
    assert rendered is not None
    assert rendered.shown == rendered.body  # a Slack body holds no secret: shown as sent
    assert json.loads(rendered.body) == {
        "text": ":warning: Run &lt;failed&gt;: see *logs* &amp; fix",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": ":warning: Run <failed>", "emoji": True},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": "see *logs* &amp; fix"}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": "*WARN* · RUN_STATE · run train-3 (r1) in ml/p"}
                ],
            },
        ],
    }


def test_a_slack_notification_names_the_artifact_version_and_reads_absent_text_as_blank() -> None:
    # Built by hand without title or message (the inventory and the wire always give them).
    action = Action("slack", {"channel": "ml", "severity": "error"})
    auto = Automation("ml", "a", Scope("wandb-registry-model", "fraud"), ALIAS_EVENT_KIND, action)
    rendered = render(Facts(auto, ALIAS_EVENT), None)
    assert rendered is not None
    assert json.loads(rendered.body) == {
        "text": ":rotating_light: ",
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": ":rotating_light: ", "emoji": True},
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "*ERROR* · ADD_ARTIFACT_ALIAS · ml/wandb-registry-model/fraud:v3",
                    }
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("kind", "params", "alias", "tag"),
    [
        ("alias_added", {"alias": {"equals": "prêt"}}, "prêt", None),
        ("artifact_unlinked", {"alias": "^staging$"}, "staging", None),
        ("tag_added", {"tag": "^gold"}, None, "^gold"),  # a bare tag is exact
        ("tag_removed", {"tag": {"matches": "^silver$"}}, None, "silver"),
        ("collection_tag_added", {"tag": {"one_of": ["review", "audit"]}}, None, "review"),
        ("collection_tag_removed", {"tag": {"contains": "old"}}, None, "old"),
        ("tag_added", {"tag": {"matches": "^gold", "not_equals": "gold-x"}}, None, "gold"),
        ("alias_added", {"alias": {"any": [{"one_of": ["canary"]}, "^prod$"]}}, "canary", None),
        ("alias_added", {"alias": {"all": [{"not": "^tmp"}, {"equals": "v2"}]}}, "v2", None),
        ("alias_added", {"alias": {"not_any": ["^tmp"]}}, "production", None),
    ],
)
def test_a_sample_event_passes_the_automations_alias_or_tag_test(
    kind: str, params: dict[str, Any], alias: str | None, tag: str | None
) -> None:
    event = sample_event(automation(kind, params, None))
    assert (event.type, event.alias, event.tag) == (kind, alias, tag)
    assert (event.artifact is None) == kind.startswith("collection_tag")


def _copies(count: int, size: int) -> tuple[Automation, IncomingEvent]:
    """An automation whose body holds `count` copies of a metadata value of `size` bytes."""
    event = replace(
        ALIAS_EVENT, artifact=Artifact(3, "model", MappingProxyType({"big": "x" * size}))
    )
    payload = {f"c{n}": "${artifact_metadata.big}" for n in range(count)}
    return automation("alias_added", {}, payload), event


def test_a_body_up_to_the_limit_is_rendered() -> None:
    # {"c0":"...","c1":"..."}: 7 bytes around each value and 1 between, 2 for the braces.
    size = (MAX_BODY_BYTES - 2 - 1) // 2 - 7
    auto, event = _copies(2, size)
    rendered = render(Facts(auto, event), HOOK, SECRETS)
    assert rendered is not None
    assert len(rendered.body) == MAX_BODY_BYTES - 1
    # {"c0":"..."}: 9 bytes around one value; the body of exactly the limit is sent.
    auto, event = _copies(1, MAX_BODY_BYTES - 9)
    rendered = render(Facts(auto, event), HOOK, SECRETS)
    assert rendered is not None
    assert len(rendered.body) == MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("count", "size", "said"),
    [
        # The values copied make exactly the limit, the body is over it: the body's size.
        (2, MAX_BODY_BYTES // 2, MAX_BODY_BYTES + 17),
        # The values alone pass the limit at the fifth copy: stopped there.
        (1000, 60_000, 300_000),
    ],
)
def test_a_body_over_the_limit_is_refused_naming_the_limit(
    count: int, size: int, said: int
) -> None:
    auto, event = _copies(count, size)
    with pytest.raises(RenderError) as raised:
        render(Facts(auto, event), HOOK, SECRETS)
    assert str(raised.value) == (
        f"the rendered body is {said} bytes or more; a delivery sends at most "
        f"{MAX_BODY_BYTES} bytes (the payload copies too much event data)"
    )


def test_an_unknown_variable_after_values_of_exactly_the_limit_is_named() -> None:
    auto, event = _copies(1, MAX_BODY_BYTES)
    payload = {"c0": "${artifact_metadata.big}", "c1": "${runname}"}
    auto = replace(auto, action=Action("webhook", {"to": "deploy", "payload": payload}))
    with pytest.raises(RenderError) as raised:
        render(Facts(auto, event), HOOK, SECRETS)
    assert str(raised.value) == (
        "automation 'auto': ${runname} has no value for alias_added events"
    )

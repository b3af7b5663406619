"""Warnings: legal inventory that is probably not what was meant, errors with --strict."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from reconcile.cli import cli
from tests.conftest import WriteFiles

SUSPECT = """
entity: ml
secrets:
  - name: TOKEN
  - name: SIGNING
webhooks:
  - name: hook
    url: https://example.com/hook
    access_token: TOKEN
    secret: SIGNING
automations:
  - name: deploy
    scope: {registry: model}
    when:
      alias_added: {alias: staging}
    then:
      webhook:
        to: hook
        payload:
          auto_scale: yes
          quoted: "no"
          sig: "${SIGNING}"
  - name: failed
    scope: {project: p}
    when: {run_state: {states: [failed], run_name: {matches: "^train"}}}
    then: {no_op: }
"""
WARNINGS = [
    "automations/a.yaml:14:28: automations[0].when.alias_added.alias: 'staging' has no ^ or $, "
    "so it matches any alias containing a match, such as 'pre-staging'; write '^staging$' to "
    "match the whole alias",
    "automations/a.yaml:19:23: automations[0].then.webhook.payload.auto_scale: yes is the "
    "string 'yes' here, but YAML 1.1 tools read it as a boolean; quote it ('yes') to keep the "
    "string, or write true or false",
    "automations/a.yaml:21:16: automations[0].then.webhook.payload.sig: ${SIGNING} puts the "
    "signing secret of webhook 'hook' in the request body; it already signs every request "
    "(X-Wandb-Signature): have the receiver check that",
]


def _as_warning(line: str) -> str:
    place, message = line.split(": ", 1)
    return f"{place}: warning: {message}"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_validate_shows_warnings_and_still_passes(write_files: WriteFiles) -> None:
    write_files({"a.yaml": SUSPECT})
    result = invoke("validate")
    assert result.exit_code == 0
    summary = "valid: 2 secrets, 1 webhook, 2 automations; 3 warnings (errors with --strict)"
    assert result.output.splitlines() == [*map(_as_warning, WARNINGS), summary]


def test_validate_strict_turns_warnings_into_errors(write_files: WriteFiles) -> None:
    write_files({"a.yaml": SUSPECT})
    result = invoke("validate", "--strict")
    assert result.exit_code == 1
    assert result.output.splitlines() == [*WARNINGS, "3 problems found"]


def test_warnings_in_json_and_github_formats(write_files: WriteFiles) -> None:
    write_files({"a.yaml": SUSPECT})
    body = json.loads(invoke("validate", "--format", "json").output)
    assert (body["valid"], body["errors"], len(body["warnings"])) == (True, [], 3)
    assert body["warnings"][0]["line"] == 14
    lines = invoke("validate", "--format", "github").output.splitlines()
    assert [line.split(" ", 1)[0] for line in lines[:3]] == ["::warning"] * 3


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("{alias: staging}", "{alias: ^staging$}"),
        ("auto_scale: yes", "auto_scale: 'yes'"),
        ('sig: "${SIGNING}"', "sig: signed"),
    ],
)
def test_each_warning_goes_away_when_the_mistake_is_fixed(
    write_files: WriteFiles, old: str, new: str
) -> None:
    write_files({"a.yaml": SUSPECT.replace(old, new)})
    result = invoke("validate")
    assert result.output.count(": warning: ") == 2


def test_plan_shows_warnings_on_stderr_and_strict_refuses(write_files: WriteFiles) -> None:
    write_files({"a.yaml": SUSPECT})
    result = invoke("plan", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["create"] == 5
    assert result.stderr.splitlines() == [
        *map(_as_warning, WARNINGS),
        "3 warnings (errors with --strict)",
    ]
    strict = invoke("plan", "--strict")
    assert strict.exit_code == 1
    assert strict.stdout == ""
    assert strict.stderr.splitlines() == [*WARNINGS, "the inventory is invalid"]


SLACK_WITH_VARIABLES = """
entity: ml
automations:
  - name: tell
    scope: {project: p}
    when: {run_state: {states: [failed]}}
    then:
      slack:
        channel: "#alerts"
        title: "Run ${run_name} failed"
        message: Have a look.
"""


def test_a_variable_in_a_slack_text_is_a_warning_since_it_is_sent_as_written(
    write_files: WriteFiles,
) -> None:
    write_files({"a.yaml": SLACK_WITH_VARIABLES})
    result = invoke("validate", "--strict")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "automations/a.yaml:9:16: automations[0].then.slack.title: '${run_name}' is sent as "
        "written: variables are substituted in webhook payloads only (W&B documents none for "
        "Slack titles and messages; the message already names the event and the version)",
        "1 problem found",
    ]
    write_files({"a.yaml": SLACK_WITH_VARIABLES.replace("Run ${run_name} failed", "Run failed")})
    assert invoke("validate", "--strict").exit_code == 0


SEED_STYLE = """
entity: ml
secrets:
  - name: DEPLOY_API_TOKEN
  - name: SIGNING
webhooks:
  - name: hook
    url: https://example.com/hook
    access_token: DEPLOY_API_TOKEN
    secret: SIGNING
automations:
  - name: deploy
    scope: {project: p}
    when: {run_metric: {metric: loss, below: 0.1}}
    then:
      webhook:
        to: hook
        payload:
          token: $DEPLOY_API_TOKEN
          note: "run $run_name costs $5, $$SIGNING is text"
          version: ${artifact_version_string}
          plain: $SIGNING
"""
SEED_WARNINGS = [
    "automations/a.yaml:18:18: automations[0].then.webhook.payload.token: '$DEPLOY_API_TOKEN' "
    "is sent as written: only ${...} is substituted; write '${ACCESS_TOKEN}' for the access "
    "token of webhook 'hook'",
    "automations/a.yaml:19:17: automations[0].then.webhook.payload.note: '$run_name' is sent "
    "as written: only ${...} is substituted; write '${run_name}' for the variable",
    "automations/a.yaml:20:20: automations[0].then.webhook.payload.version: "
    "${artifact_version_string} is blank for run_metric events (W&B sends a variable that "
    "does not apply to the event as an empty string; it is set for alias_added, "
    "artifact_created, artifact_linked, artifact_unlinked, tag_added, tag_removed)",
    "automations/a.yaml:21:18: automations[0].then.webhook.payload.plain: '$SIGNING' is sent "
    "as written: only ${...} is substituted; write '${SIGNING}' for secret 'SIGNING'",
]


def test_the_seeds_dollar_names_and_other_events_variables_are_warned(
    write_files: WriteFiles,
) -> None:
    write_files({"a.yaml": SEED_STYLE})
    result = invoke("validate")
    assert result.exit_code == 0
    summary = "valid: 2 secrets, 1 webhook, 1 automation; 4 warnings (errors with --strict)"
    assert result.output.splitlines() == [*map(_as_warning, SEED_WARNINGS), summary]
    strict = invoke("validate", "--strict")
    assert (strict.exit_code, strict.output.splitlines()) == (
        1,
        [*SEED_WARNINGS, "4 problems found"],
    )


def test_a_variable_of_another_event_renders_blank(write_files: WriteFiles) -> None:
    write_files({"a.yaml": SEED_STYLE})
    result = CliRunner().invoke(cli, ["render", "deploy"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        '{"token":"$DEPLOY_API_TOKEN","note":"run $run_name costs $5, $$SIGNING is text",'
        '"version":"","plain":"$SIGNING"}'
    )


def test_urls_wandb_does_not_deliver_to_are_warned(write_files: WriteFiles) -> None:
    write_files(
        {
            "a.yaml": """
            entity: ml
            webhooks:
              - name: local
                url: http://127.0.0.1:8080/hook
              - name: office
                url: https://10.1.2.3/hook
              - name: named
                url: http://localhost/x
              - name: six
                url: https://[::1]:9000/x
              - name: public
                url: https://example.com/x
              - name: resolved
                url: https://hooks.internal/x
            """
        }
    )
    embedded = "so this webhook works only with reconcile's embedded server"
    expected = [
        "automations/a.yaml:4:10: webhooks[0].url: 127.0.0.1 is a loopback address: W&B "
        f"delivers to public addresses only, {embedded} (--allow-delivery-to 127.0.0.1:8080)",
        "automations/a.yaml:6:10: webhooks[1].url: 10.1.2.3 is a private address: W&B "
        f"delivers to public addresses only, {embedded} (--allow-delivery-to 10.1.2.3)",
        "automations/a.yaml:8:10: webhooks[2].url: localhost is a loopback address: W&B "
        f"delivers to public addresses only, {embedded} (--allow-delivery-to localhost)",
        "automations/a.yaml:10:10: webhooks[3].url: ::1 is a loopback address: W&B "
        f"delivers to public addresses only, {embedded} (--allow-delivery-to [::1]:9000)",
    ]
    result = invoke("validate")
    summary = "valid: 0 secrets, 6 webhooks, 0 automations; 4 warnings (errors with --strict)"
    assert (result.exit_code, result.output.splitlines()) == (
        0,
        [*map(_as_warning, expected), summary],
    )
    strict = invoke("validate", "--strict")
    assert (strict.exit_code, strict.output.splitlines()) == (1, [*expected, "4 problems found"])

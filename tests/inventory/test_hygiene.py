"""Credential-looking values: recognised, refused where they do not belong, never echoed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.inventory.credentials import describe
from tests.conftest import WriteFiles

GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
SLACK = "xoxb-123456789012-1234567890123-AbCdEfGhIjKl"


@pytest.mark.parametrize(
    ("text", "looks_like"),
    [
        (GITHUB, "a GitHub token (ghp_...)"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "a GitHub token (github_pat_...)"),
        (SLACK, "a Slack token (xox...-)"),
        ("xoxp-2222222222-3333333333-abcdef", "a Slack token (xox...-)"),
        ("Bearer sk-proj-AbCdEf1234567890GhIjKl", "an API key (sk-...)"),
        ("https://hooks.slack.com/services/T000/B000/abc", "a Slack webhook URL"),
        ("0123456789abcdef0123456789abcdef01234567", "a long random string, like a key or token"),
        ("406GwE4HBQyHpYXaY1fe37MuQQnVk6Lu2sjxD5kN", "a long random string, like a key or token"),
    ],
)
def test_credentials_are_recognised(text: str, looks_like: str) -> None:
    assert describe(text) == looks_like


@pytest.mark.parametrize(
    "text",
    [
        "DEPLOY_SIGNING_KEY",
        "TEAMS_SIGNING_KEY_FOR_PRODUCTION_2024",
        "sk-learn-model-registry-v2",
        "${artifact_version_string} was tagged ${tag}",
        "https://deploy.example.com/hooks/wandb/staging",
        "http://schema.org/extensions",
        "fraud-detector-v2-production-candidate-2024",
        "ThisIsAVeryLongCamelCaseIdentifierWith2Digits",
    ],
)
def test_ordinary_names_and_text_are_not_credentials(text: str) -> None:
    assert describe(text) is None


INVENTORY = f"""
entity: ml
secrets:
  - name: TOKEN
webhooks:
  - name: gh
    url: https://hooks.slack.com/services/T000/B000/abcdef
    access_token: {GITHUB}
  - name: slack
    url: https://api.github.com/x
    secret: {SLACK}
"""


def test_github_annotations_name_the_place_never_the_value(write_files: WriteFiles) -> None:
    write_files({"a.yaml": INVENTORY})
    result = CliRunner().invoke(cli, ["validate", "--format", "github"])
    assert result.exit_code == 1
    for value in (GITHUB, SLACK, "T000/B000"):
        assert value not in result.output
    advice = (
        "not a secret's name; keep the value out of git: declare a secret under `secrets:` "
        "whose `from_env` names the environment variable that holds it, and give the "
        "secret's name here"
    )
    assert result.output.splitlines() == [
        "::error file=automations/a.yaml,line=7,col=19::webhooks[0].access_token: this looks "
        f"like a GitHub token (ghp_...), {advice}",
        "::error file=automations/a.yaml,line=10,col=13::webhooks[1].secret: this looks like "
        f"a Slack token (xox...-), {advice}",
        "::warning file=automations/a.yaml,line=6,col=10::webhooks[0].url: a Slack "
        "incoming-webhook URL is a credential, committed to git and shown in plans; read the "
        "URL from the environment instead: `url: {from_env: VARIABLE}`",
        "2 problems found",
    ]


def test_a_url_from_the_environment_validates(write_files: WriteFiles) -> None:
    text = INVENTORY.replace(f"access_token: {GITHUB}", "access_token: TOKEN")
    text = text.replace(f"secret: {SLACK}", "secret: TOKEN")
    text = text.replace(
        "url: https://hooks.slack.com/services/T000/B000/abcdef", "url: {from_env: SLACK_URL}"
    )
    write_files({"a.yaml": text})
    result = CliRunner().invoke(cli, ["validate"])
    assert (result.exit_code, result.output) == (0, "valid: 1 secret, 2 webhooks, 0 automations\n")


LOW_ENTROPY = "sk-proj-" + "a" * 24
SERVER_KEY = "local-" + "0123456789abcdef" * 2 + "01234567"


def test_a_server_key_and_a_plain_project_key_are_refused_unshown(
    write_files: WriteFiles,
) -> None:
    write_files(
        {
            "a.yaml": f"""
            entity: ml
            secrets:
              - name: OPENAI
                from_env: {LOW_ENTROPY}
            webhooks:
              - name: hook
                url: https://example.com/hook
            automations:
              - name: deploy
                scope: {{project: p}}
                when: {{run_state: {{states: [failed]}}}}
                then:
                  webhook:
                    to: hook
                    payload:
                      key: {SERVER_KEY}
            """
        }
    )
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == 1
    assert LOW_ENTROPY not in result.output
    assert SERVER_KEY not in result.output
    assert result.output.splitlines() == [
        "automations/a.yaml:4:15: secrets[0].from_env: this looks like an API key (sk-...), "
        "not an environment variable's name; set a variable to it where apply runs and name "
        "the variable here",
        "automations/a.yaml:16:16: automations[0].then.webhook.payload.key: this looks like a "
        "W&B API key (local-...); a credential here would be stored in git and shown in plans: "
        "declare it under `secrets:` and let the webhook send it (`access_token`, used as "
        "${ACCESS_TOKEN}, or `secret`, used as ${NAME})",
        "2 problems found",
    ]

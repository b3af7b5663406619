"""Checks beyond the schema: URLs, RE2 regexes, and the shape of semantic findings."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconcile.cli import cli
from reconcile.core.errors import InvalidInventory
from reconcile.inventory.load import load_inventory
from reconcile.inventory.semantics import regex_problem, url_problem
from tests.conftest import WriteFiles


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "https://example.com:8443/a?b=c&d=e",
        "http://localhost:8080/hook",
        "http://127.0.0.1/hook",
        "http://127.5.6.7/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_acceptable_urls(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "http://example.com",
            "plain http is allowed only for loopback hosts; use https for 'example.com'",
        ),
        (
            "http://10.0.0.1/x",
            "plain http is allowed only for loopback hosts; use https for '10.0.0.1'",
        ),
        ("ftp://example.com", "'ftp://example.com' is not an http(s) URL with a host"),
        ("https://", "'https://' is not an http(s) URL with a host"),
        (
            "https://example.com:99999/",
            "'https://example.com:99999/' is not a valid URL: Port out of range 0-65535",
        ),
        (
            "https://a:b@example.com",
            "credentials in the URL would be stored in git; use access_token instead",
        ),
    ],
)
def test_refused_urls(url: str, problem: str) -> None:
    assert url_problem(url) == problem


@pytest.mark.parametrize(
    "pattern", ["^production$", "^(prod|staging)-v[0-9]+$", r"\bgold\b", "(?i)prod"]
)
def test_re2_accepts_ordinary_regexes(pattern: str) -> None:
    assert regex_problem(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "detail"),
    [
        ("(?=a)", "invalid perl operator: (?="),
        ("(?<!a)b", "invalid perl operator: (?<!"),
        (r"(a)\1", r"invalid escape sequence: \1"),
        ("a{2,1}", "invalid repetition size: {2,1}"),
    ],
)
def test_re2_refuses_what_go_refuses(pattern: str, detail: str) -> None:
    problem = regex_problem(pattern)
    assert problem is not None
    assert f"({detail})" in problem


def test_re2_errors_are_not_logged_to_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    regex_problem("(?=a)")
    assert capfd.readouterr().err == ""


FILTERS = """
entity: ml
automations:
  - name: a
    scope: {project: p}
    when:
      alias_added:
        alias:
          any:
            - {equals: 5}
            - not: {one_of: []}
            - {none_of: [], matches: ''}
            - {not_equals: '5', above: 1e999}
    then: {no_op: }
  - name: b
    scope: {project: p}
    when:
      run_state:
        states: [failed]
        run_name: {not_any: [{exists: true}, {matches: '(a)\\1'}, {matches: train}]}
    then: {no_op: }
"""


def test_filter_operands_are_checked_where_they_are_written(write_files: WriteFiles) -> None:
    write_files({"a.yaml": FILTERS})
    with pytest.raises(InvalidInventory) as raised:
        load_inventory(["automations"])
    where = "automations/a.yaml"
    assert [str(issue) for issue in raised.value.issues] == [
        f"{where}:12:40: automations[0].when.alias_added.alias.any[3].above: too large a "
        "number: W&B stores finite JSON numbers",
        f"{where}:19:56: automations[1].when.run_state.run_name.not_any[1].matches: '(a)\\1' is "
        "not a valid RE2 regular expression (invalid escape sequence: \\1); W&B evaluates it in "
        "Go: no look-around, no back-references",
    ]
    assert [str(issue) for issue in raised.value.warnings] == [
        f"{where}:9:24: automations[0].when.alias_added.alias.any[0].equals: an alias "
        "is text, so it is never 5; quote it ('5') to compare with that text",
        f"{where}:10:29: automations[0].when.alias_added.alias.any[1].not.one_of: an "
        "empty list: the test never passes",
        f"{where}:11:25: automations[0].when.alias_added.alias.any[2].none_of: an "
        "empty list: the test always passes",
        f"{where}:11:38: automations[0].when.alias_added.alias.any[2].matches: '' "
        "matches every alias: the test lets all pass",
        f"{where}:19:76: automations[1].when.run_state.run_name.not_any[2].matches: "
        "'train' has no ^ or $, so it matches any run name containing a match, such as "
        "'pre-train'; write '^train$' to match the whole run name",
    ]


def _validate(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["validate", *args])
    return result.exit_code, result.output.splitlines()


def test_a_webhook_declared_twice_is_one_problem_not_a_false_one_elsewhere(
    write_files: WriteFiles,
) -> None:
    write_files(
        {
            "a.yaml": """
            entity: ml
            secrets:
              - name: TOKEN
            webhooks:
              - name: hook
                url: https://example.com/hook
                access_token: TOKEN
            automations:
              - name: a
                scope: {project: p}
                when: {run_state: {states: [failed]}}
                then:
                  webhook:
                    to: hook
                    payload: {t: "${ACCESS_TOKEN}"}
            """,
            "b.yaml": """
            entity: ml
            webhooks:
              - name: hook
                url: https://example.com/other
            """,
        }
    )
    assert _validate() == (
        1,
        [
            "automations/b.yaml:3:11: webhook name 'hook' is used twice in entity 'ml' "
            "(first at automations/a.yaml:5:11)",
            "1 problem found",
        ],
    )


def test_a_registry_written_with_its_prefix_is_read_without_it(write_files: WriteFiles) -> None:
    write_files(
        {
            "a.yaml": """
            entity: ml
            automations:
              - name: reg
                scope: {registry: wandb-registry-model}
                when: {alias_added: {alias: "^prod$"}}
                then: {no_op: }
            """
        }
    )
    warning = (
        "automations/a.yaml:4:23: {}automations[0].scope.registry: 'wandb-registry-model' is "
        "read as the registry 'model': W&B adds the 'wandb-registry-' prefix itself; write "
        "`registry: model`"
    )
    summary = "valid: 0 secrets, 0 webhooks, 1 automation; 1 warning (errors with --strict)"
    assert _validate() == (0, [warning.format("warning: "), summary])
    assert _validate("--strict") == (1, [warning.format(""), "1 problem found"])
    (auto,) = load_inventory(["automations"]).automations
    assert auto.scope.project == "wandb-registry-model"


def test_a_name_declared_in_a_file_left_out_of_paths_says_where(write_files: WriteFiles) -> None:
    write_files(
        {
            "a.yaml": """
            entity: ml
            secrets:
              - name: TOK
            webhooks:
              - name: hook
                url: https://example.com/hook
                access_token: TOK
            """,
            "b.yaml": """
            entity: ml
            automations:
              - name: x
                scope: {project: p}
                when: {run_state: {states: [failed]}}
                then: {webhook: {to: hook}}
              - name: y
                scope: {project: p}
                when: {run_state: {states: [failed]}}
                then: {webhook: {to: nowhere}}
            """,
        }
    )
    left_out = "which the PATHS given leave out: give that file too, or the whole folder"
    assert _validate("automations/b.yaml") == (
        1,
        [
            "automations/b.yaml:6:26: automations[0].then.webhook.to: webhook 'hook' is "
            f"declared in automations/a.yaml, {left_out}",
            "automations/b.yaml:10:26: automations[1].then.webhook.to: webhook 'nowhere' is not "
            "declared under `webhooks:` for entity 'ml'",
            "2 problems found",
        ],
    )
    assert _validate()[0] == 1  # 'nowhere' is declared nowhere


def test_equal_payloads_are_checked_once_and_each_is_reported_where_it_is(
    write_files: WriteFiles,
) -> None:
    """Payloads are scanned once per distinct payload; every automation still gets its
    own findings, and payloads that differ only in a value's type are not confused."""
    automation = """
              - name: {name}
                scope: {{project: p}}
                when: {{run_state: {{states: [failed]}}}}
                then: {{webhook: {{to: hook, payload: {payload}}}}}"""
    key = "local-" + "0123456789abcdef" * 2 + "01234567"
    payloads = {
        "a": f'{{t: "${{nope}}", k: "{key}"}}',
        "b": f'{{t: "${{nope}}", k: "{key}"}}',
        "c": "{t: $run_name, n: yes}",
        "d": "{t: $run_name, n: true}",
    }
    listed = "".join(automation.format(name=n, payload=p) for n, p in payloads.items())
    write_files(
        {
            "a.yaml": f"""
            entity: ml
            webhooks:
              - name: hook
                url: https://example.com/hook
            automations:{listed}
            """
        }
    )
    code, lines = _validate()
    assert code == 1
    assert [line.split(": ", 1)[1].split(":")[0] for line in lines[:-1]] == [
        "automations[0].then.webhook.payload.t",
        "automations[0].then.webhook.payload.k",
        "automations[1].then.webhook.payload.t",
        "automations[1].then.webhook.payload.k",
        "warning",
        "warning",
        "warning",
    ]
    assert [line.split("warning: ")[1][:41] for line in lines[4:-1]] == [
        "automations[2].then.webhook.payload.t: '$",
        "automations[2].then.webhook.payload.n: ye",
        "automations[3].then.webhook.payload.t: '$",
    ]
    assert lines[-1] == "4 problems found"

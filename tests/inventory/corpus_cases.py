"""The broken-inventory corpus: each case is one mistake a user makes, with the exact report.

A case is (id, files, expected lines). Most put one automation after HEADER, whose
`automations:` key sits on line 10, so the automation starts on line 11.
"""

from __future__ import annotations

import textwrap

HEADER = """\
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
"""


def auto(body: str) -> str:
    """HEADER followed by `body` (one or more `- name: ...` items) indented under it."""
    return HEADER + textwrap.indent(textwrap.dedent(body).lstrip("\n"), "  ")


GOOD = """
- name: deploy
  scope: {registry: model, collection: detector}
  when:
    alias_added: {alias: ^production$}
  then:
    webhook: {to: hook}
"""

A = "automations/a.yaml"

CASES: list[tuple[str, dict[str, str | bytes], list[str]]] = []


def case(case_id: str, files: dict[str, str | bytes] | str, *expected: str) -> None:
    CASES.append(
        (case_id, {"a.yaml": files} if isinstance(files, str | bytes) else files, list(expected))
    )


# --- keys and structure -------------------------------------------------------------
case("typo-top-level-key", HEADER.replace("automations:", "automation:") + GOOD)
case("typo-automation-key", auto(GOOD.replace("scope:", "scpoe:")))
case(
    "typo-event-parameter",
    auto("""
- name: acc
  scope: {project: p}
  when:
    run_metric: {metric: acc, abov: 0.9}
  then: {no_op: }
"""),
)
case("unknown-event", auto(GOOD.replace("alias_added", "alias_add")))
case("unknown-action", auto(GOOD.replace("webhook: {to: hook}", "webhooks: {to: hook}")))
case("missing-name", auto(GOOD.replace("- name: deploy\n  scope", "- scope")))
case("missing-scope", auto(GOOD.replace("  scope: {registry: model, collection: detector}\n", "")))
case("missing-when", auto(GOOD.replace("  when:\n    alias_added: {alias: ^production$}\n", "")))
case(
    "empty-when",
    auto(GOOD.replace("  when:\n    alias_added: {alias: ^production$}\n", "  when: {}\n")),
)
case(
    "two-events",
    auto(
        GOOD.replace(
            "    alias_added: {alias: ^production$}\n",
            "    alias_added: {alias: ^production$}\n    tag_added: {tag: gold}\n",
        )
    ),
)
case(
    "scope-project-and-registry",
    auto(GOOD.replace("{registry: model, collection: detector}", "{project: p, registry: model}")),
)
case(
    "scope-without-project",
    auto(GOOD.replace("{registry: model, collection: detector}", "{collection: detector}")),
)
case("on-instead-of-when", auto(GOOD.replace("  when:", "  on:")))
case("indentation-event-outdented", auto(GOOD.replace("    alias_added:", "  alias_added:")))
case(
    "indentation-breaks-yaml",
    auto(
        GOOD.replace("  then:\n    webhook", "  then:\n      webhook").replace(
            "      webhook: {to: hook}", "      webhook: {to: hook}\n    other: 1"
        )
    ),
)
case("tab-indentation", auto(GOOD).replace("    webhook: {to: hook}", "\twebhook: {to: hook}"))
case("duplicate-key", auto(GOOD.replace("  then:", "  name: deploy-2\n  then:")))
case("top-level-list", "- name: deploy\n")
case("key-not-a-string", auto(GOOD) + "? [a, b]\n: 1\n")

# --- types and values ---------------------------------------------------------------
case("yes-for-boolean", auto(GOOD.replace("  then:", "  enabled: yes\n  then:")))
case("number-for-name", auto(GOOD.replace("name: deploy", "name: 2024")))
case(
    "string-threshold",
    auto("""
- name: acc
  scope: {project: p}
  when:
    run_metric: {metric: acc, above: "0.9"}
  then: {no_op: }
"""),
)
case(
    "two-comparators",
    auto("""
- name: acc
  scope: {project: p}
  when:
    run_metric: {metric: acc, above: 0.9, below: 0.1}
  then: {no_op: }
"""),
)
case(
    "no-comparator",
    auto("""
- name: acc
  scope: {project: p}
  when:
    run_metric: {metric: acc}
  then: {no_op: }
"""),
)
case(
    "zero-window",
    auto("""
- name: acc
  scope: {project: p}
  when:
    run_metric: {metric: acc, above: 0.9, aggregate: max, window: 0}
  then: {no_op: }
"""),
)
case(
    "tag-regex-not-re2",
    auto("""
- name: gold
  scope: {project: p}
  when:
    tag_added: {tag: {matches: '(?=gold)'}}
  then: {no_op: }
"""),
)
case(
    "team-scope-of-another-team",
    auto("""
- name: failed
  scope: {team: research}
  when:
    run_state: {states: [failed]}
  then: {no_op: }
"""),
)
case(
    "team-scope-for-artifact-created",
    auto("""
- name: created
  scope: {team: ml}
  when:
    artifact_created:
  then: {no_op: }
"""),
)
case(
    "organization-scope-for-a-run-event",
    auto("""
- name: failed
  scope: {organization: ml-org}
  when:
    run_state: {states: [failed]}
  then: {no_op: }
"""),
)
case(
    "organization-scope-with-a-collection",
    auto("""
- name: promoted
  scope: {organization: ml-org, collection: detector}
  when:
    alias_added: {alias: ^prod$}
  then: {no_op: }
"""),
)
case(
    "team-scope-with-a-collection",
    auto("""
- name: failed
  scope: {team: ml, collection: detector}
  when:
    run_state: {states: [failed]}
  then: {no_op: }
"""),
)
case(
    "tag-test-misspelt-operator-inside-any",
    auto("""
- name: gold
  scope: {project: p}
  when:
    tag_added: {tag: {any: [gold, {matchs: ^gold}]}}
  then: {no_op: }
"""),
)
case(
    "alias-regex-not-re2-inside-not-any",
    auto("""
- name: gold
  scope: {project: p}
  when:
    alias_added:
      alias:
        not_any: [^tmp$, {matches: '(?!prod)'}]
  then: {no_op: }
"""),
)
case(
    "run-name-combinator-without-a-list",
    auto("""
- name: failed
  scope: {project: p}
  when:
    run_state: {states: [failed], run_name: {any: {contains: x}}}
  then: {no_op: }
"""),
)
case(
    "aggregate-typo",
    auto("""
- name: acc
  scope: {project: p}
  when:
    run_metric: {metric: acc, above: 0.9, aggregate: avg, window: 5}
  then: {no_op: }
"""),
)
case(
    "empty-states",
    auto("""
- name: failed
  scope: {project: p}
  when:
    run_state: {states: []}
  then: {no_op: }
"""),
)
case(
    "crashed-state",
    auto("""
- name: failed
  scope: {project: p}
  when:
    run_state: {states: [crashed]}
  then: {no_op: }
"""),
)
case(
    "negative-change-amount",
    auto("""
- name: jump
  scope: {project: p}
  when:
    run_metric_change: {metric: loss, direction: increase, amount: -0.2}
  then: {no_op: }
"""),
)
case(
    "change-direction-typo",
    auto("""
- name: jump
  scope: {project: p}
  when:
    run_metric_change: {metric: loss, direction: up, amount: 0.2}
  then: {no_op: }
"""),
)
case("invalid-entity-name", auto(GOOD).replace("entity: ml", "entity: ML Team"))
case("invalid-webhook-name", auto(GOOD).replace("- name: hook", "- name: deploy/hook"))
case(
    "payload-is-a-list",
    auto(GOOD.replace("webhook: {to: hook}", "webhook: {to: hook, payload: [a, b]}")),
)
case(
    "slack-bad-severity",
    auto("""
- name: alert
  scope: {project: p}
  when: {run_state: {states: [failed]}}
  then: {slack: {channel: "#ml", title: Failed, severity: critical}}
"""),
)
case(
    "negative-rotation",
    auto(GOOD).replace("  - name: TOKEN\n", "  - name: TOKEN\n    rotation: -1\n"),
)
case(
    "from-env-invalid",
    auto(GOOD).replace("  - name: TOKEN\n", "  - name: TOKEN\n    from_env: 1TOKEN\n"),
)
case(
    "secret-value-inline",
    auto(GOOD).replace("  - name: TOKEN\n", "  - name: TOKEN\n    value: hunter2\n"),
)

# --- references and names -----------------------------------------------------------
case(
    "duplicate-names-across-files",
    {
        "a.yaml": auto(GOOD),
        "b.yaml": "entity: ml\nautomations:\n" + textwrap.indent(GOOD.lstrip("\n"), "  "),
    },
)
case(
    "duplicate-webhook-names",
    auto(GOOD).replace(
        "automations:", "  - name: hook\n    url: https://example.com/other\nautomations:"
    ),
)
case("missing-webhook", auto(GOOD.replace("{to: hook}", "{to: deploy-hook}")))
case("undeclared-signing-secret", auto(GOOD).replace("secret: SIGNING", "secret: SIGNING_KEY"))
case(
    "undeclared-access-token", auto(GOOD).replace("access_token: TOKEN", "access_token: API_TOKEN")
)
case("no-entity", auto(GOOD).replace("entity: ml\n", ""))
case("previously-own-name", auto(GOOD.replace("  then:", "  previously: [deploy]\n  then:")))
case(
    "previously-live-name",
    auto(
        GOOD
        + GOOD.replace("name: deploy", "name: deploy-v2").replace(
            "  then:", "  previously: [deploy]\n  then:"
        )
    ),
)
case(
    "wandb-variable-as-source",
    auto(GOOD).replace("  - name: TOKEN\n", "  - name: TOKEN\n    from_env: WANDB_API_KEY\n"),
)

# --- regexes ------------------------------------------------------------------------
case("regex-lookahead", auto(GOOD.replace("^production$", "'^(?!staging).*'")))
case("regex-backreference", auto(GOOD.replace("^production$", "'(prod)\\1'")))
case("regex-unbalanced", auto(GOOD.replace("^production$", "'^(prod'")))
case(
    "run-name-regex-lookbehind",
    auto("""
- name: failed
  scope: {project: p}
  when: {run_state: {states: [failed], run_name: {matches: "(?<=train)-x"}}}
  then: {no_op: }
"""),
)

# --- scopes -------------------------------------------------------------------------
case(
    "artifact-created-on-project",
    auto("""
- name: created
  scope: {project: p}
  when: {artifact_created: }
  then: {no_op: }
"""),
)
case(
    "run-event-on-registry",
    auto("""
- name: failed
  scope: {registry: model}
  when: {run_state: {states: [failed]}}
  then: {no_op: }
"""),
)
case(
    "run-event-on-collection",
    auto("""
- name: acc
  scope: {project: p, collection: detector}
  when: {run_metric: {metric: acc, above: 0.9}}
  then: {no_op: }
"""),
)

# --- urls ---------------------------------------------------------------------------
case("http-url", auto(GOOD).replace("https://example.com/hook", "http://example.com/hook"))
case(
    "url-with-credentials",
    auto(GOOD).replace("https://example.com/hook", "https://user:pw@example.com/hook"),
)
case("url-without-scheme", auto(GOOD).replace("https://example.com/hook", "example.com/hook"))


# --- payload templates --------------------------------------------------------------
def payload(body: str) -> str:
    return auto(
        GOOD.replace(
            "webhook: {to: hook}",
            "webhook:\n      to: hook\n      payload:\n"
            + textwrap.indent(textwrap.dedent(body).lstrip("\n"), "        "),
        )
    )


case("unknown-variable", payload("model: ${artifact_name}\n"))
case("variable-of-another-event", payload("tag: ${tag}\n"))
case(
    "access-token-variable-without-token",
    auto(
        GOOD.replace(
            "webhook: {to: hook}", "webhook: {to: plain, payload: {auth: '${ACCESS_TOKEN}'}}"
        )
    ).replace("automations:", "  - name: plain\n    url: https://example.com/plain\nautomations:"),
)
case("access-token-by-secret-name", payload("key: ${TOKEN}\n"))
case("unterminated-variable", payload("model: ${artifact_version\n"))
case("variable-in-key", payload("${alias}: yes\n"))
case("payload-too-deep", payload("a: " + "[" * 40 + "]" * 40 + "\n"))

# --- hostile input ------------------------------------------------------------------
case(
    "python-object-tag",
    auto(GOOD).replace("entity: ml", "entity: !!python/object/apply:os.system [echo]"),
)
case("custom-tag", auto(GOOD.replace("{to: hook}", "!Ref hook")))
case("multiple-documents", auto(GOOD) + "---\nentity: other\n")
case(
    "alias-bomb",
    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]\n"
        for p, n in zip("abcde", "bcdef", strict=True)
    ),
)
case("recursive-alias", "entity: ml\nautomations: &loop\n  - *loop\n")
case("invalid-utf8", auto(GOOD).replace("description", "x").encode() + b"  - name: caf\xe9\n")
case("utf16", "entity: ml\n".encode("utf-16"))
case("flow-nesting-too-deep", "entity: ml\nautomations: " + "[" * 1100 + "]" * 1100 + "\n")
case(
    "previously-claimed-twice",
    auto(
        GOOD.replace("  then:", "  previously: [old]\n  then:")
        + GOOD.replace("name: deploy", "name: deploy-v2").replace(
            "  then:", "  previously: [old]\n  then:"
        )
    ),
)
case(
    "url-with-fragment",
    auto(GOOD).replace("https://example.com/hook", "https://example.com/hook#x"),
)
case(
    "schema-and-semantic-mistakes-in-one-automation",
    auto(
        GOOD.replace("  then:", "  enabled: yes\n  then:")
        .replace("^production$", "'(?=prod)'")
        .replace("{to: hook}", "{to: hook, payload: {t: '${tag}'}}")
    ),
)
case(
    "unknown-key-and-missing-webhook",
    auto(GOOD.replace("  then:", "  labels: [a]\n  then:").replace("{to: hook}", "{to: nope}")),
)
case("misspelt-webhook", auto(GOOD.replace("{to: hook}", "{to: hoook}")))
case("misspelt-secret-variable", payload("key: ${SIGNNG}\n"))
case("misspelt-variable", payload("v: ${artifact_verison}\n"))
case(
    "artifact-created-on-registry",
    auto("""
- name: created
  scope: {registry: model}
  when: {artifact_created: }
  then: {no_op: }
"""),
)
case(
    "yaml-error-hides-no-declaration",
    {
        "a.yaml": "entity: ml\nsecrets:\n  - name: TOKEN\n   bad: indentation\n"
        "webhooks:\n  - name: hook\n    url: https://example.com/hook\n    access_token: TOKEN\n",
        "b.yaml": "entity: ml\nwebhooks:\n  - name: other\n    url: https://example.com/o\n"
        "    access_token: TOKEN\nautomations:\n"
        + textwrap.indent(
            GOOD.replace("{to: hook}", "{to: hook, payload: {a: '${ACCESS_TOKEN}'}}").lstrip("\n"),
            "  ",
        ),
    },
)

# --- credentials where names or text belong (never echoed) --------------------------
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
case(
    "token-as-access-token",
    auto(GOOD).replace("access_token: TOKEN", f"access_token: {GITHUB_TOKEN}"),
)
case(
    "slack-token-as-secret-name",
    auto(GOOD).replace(
        "  - name: SIGNING\n", "  - name: xoxb-123456789012-1234567890123-AbCdEfGh\n"
    ),
)
case("token-in-payload", payload(f"auth: Bearer {GITHUB_TOKEN}\nv: '${{{GITHUB_TOKEN}}}'\n"))
case(
    "key-in-description",
    auto(GOOD.replace("  then:", "  description: key sk-proj-AbCdEf1234567890GhIjKl\n  then:")),
)
case(
    "token-as-url-variable",
    auto(GOOD).replace("url: https://example.com/hook", f"url: {{from_env: {GITHUB_TOKEN}}}"),
)

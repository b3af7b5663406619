"""Hostile names and a plan full of them, for the review-integrity tests (S14).

Each name is something a markdown or HTML reader, or a terminal, could take for markup:
comments that hide what follows, tags that close ours, code fences, table pipes,
emphasis, links, line breaks, ANSI escapes, bidi overrides.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reconcile.core.model import Remote, State, Webhook
from reconcile.plan.compute import compute_plan, to_json
from tests.plan.test_compute import INVENTORY

# Shown as they are: nothing in them needs spelling out.
LITERAL = (
    "opens <!-- a comment",
    "hidden between the comment's ends",
    "closes --> it",
    "<script>alert(1)</script>",
    "</details></summary>after",
    "</code></pre>out",
    "`code` and ``` fences ````",
    "`",
    "| a | table | row |",
    "*star* _under_ **strong** ~~gone~~",
    "[x](https://evil.example) ![i](z) <https://auto.example>",
    "&amp; &lt;!-- &#60;!-- entities",
    "<b>bold</b> <img src=x onerror=alert(1)>",
    "@someone #12 :smile:",
    "> quote # heading - item 1. item",
    "   spaced   out",
)
# Shown quoted, with their hidden characters spelled out.
QUOTED = {
    "line\nbreak\n\n<!-- after a blank line": '"line\\nbreak\\n\\n<!-- after a blank line"',
    "carriage\rreturn": '"carriage\\rreturn"',
    "\x1b[31mred\x1b[0m and \x1b[2K erased": '"\\u001b[31mred\\u001b[0m and \\u001b[2K erased"',
    "bidi \u202eexe.txt": '"bidi \\u202eexe.txt"',
    "zero\u200bwidth and tag \U000e0041": '"zero\\u200bwidth and tag \\udb40\\udc41"',
    "next\u0085line \u2028 \u2029": '"next\\u0085line \\u2028 \\u2029"',
    'say "hi"': '"say \\"hi\\""',
    "back\\slash": '"back\\\\slash"',
}
NAMES = (*LITERAL, *QUOTED)
ENTITY = "ml-platform"


def shown(name: str) -> str:
    """How a name must look to a reviewer, spelled out by hand above."""
    return QUOTED.get(name, name)


def hostile_plan() -> dict[str, Any]:
    """Every kind of entry named with a hostile name: creates, an update of a payload with
    hostile keys and values, a rename, deletes, unmanaged, protected, kept and conflicts."""
    base = INVENTORY.automations[1]
    created = [replace(base, name=name) for name in NAMES]
    odd_key = replace(base.action, params={**base.action.params, "payload": {"new\nkey": "\u2028"}})
    created[NAMES.index("`")] = replace(base, name="`", action=odd_key)
    payload = {"k\n+ create automation forged": "v <!-- \x1b[2K", "`|*": "-->"}
    updated = replace(
        base, action=replace(base.action, params={**base.action.params, "payload": payload})
    )
    keeps = replace(base.action, params={"to": "gone <hook>"})
    renamed = replace(INVENTORY.automations[2], name="renamed <!--", previously=("was -->",))
    declared = Webhook(ENTITY, "conflict <!-- hook", "https://example.com/mine")
    inventory = replace(
        INVENTORY,
        webhooks=(*INVENTORY.webhooks, declared),
        automations=(*created, updated, renamed),
    )
    server = [Remote(w, id=f"W-{w.name}", managed=True) for w in INVENTORY.webhooks]
    server += [Remote(s, managed=True) for s in INVENTORY.secrets]
    server += [
        # Declared by the inventory, made by someone else: a conflict.
        Remote(replace(declared, url="https://example.com/theirs"), id="W-c"),
        Remote(base, id="T-base", managed=True),
        Remote(replace(INVENTORY.automations[2], name="was -->"), id="T-was", managed=True),
        Remote(replace(base, name="deleted <!--"), id="T-d1", managed=True),
        Remote(replace(base, name="deleted too -->"), id="T-d2", managed=True),
        Remote(replace(base, name="unmanaged <!--"), id="T-u1"),
        Remote(replace(base, name="unmanaged\nline"), id="T-u2"),
        Remote(replace(base, name="protected -->"), id="T-p", managed=True, protected=True),
        # A webhook no longer declared that an unmanaged automation still uses: kept.
        Remote(Webhook(ENTITY, "gone <hook>", "https://example.com/x"), id="W-gone", managed=True),
        Remote(replace(base, name="keeps `it`\n-->", action=keeps), id="T-k"),
    ]
    return to_json(compute_plan(inventory, State(tuple(server))))

"""Recognise values that look like credentials, so they are refused and never echoed.

Known token formats are matched by prefix; anything else long, unbroken and mixing
upper case, lower case and digits (or a long run of hex digits) counts as a key too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

_KNOWN = (
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{20,}"), "a GitHub token (ghp_...)"),
    (re.compile(r"github_pat_[A-Za-z0-9_]{20,}"), "a GitHub token (github_pat_...)"),
    (re.compile(r"xox[abposre]-[A-Za-z0-9-]{10,}"), "a Slack token (xox...-)"),
    (
        re.compile(
            r"sk-(?:[A-Za-z0-9_-]*?)(?=[A-Za-z0-9_-]*[A-Z])(?=[A-Za-z0-9_-]*[a-z])"
            r"(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}"
        ),
        "an API key (sk-...)",
    ),
    # A project, admin or service-account key says what it is in its prefix, however
    # little entropy the rest has (a placeholder or a test key is a key too).
    (
        re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj|ant|admin|svcacct)-[A-Za-z0-9_-]{8,}"),
        "an API key (sk-...)",
    ),
    (re.compile(r"(?<![A-Za-z0-9_-])local-[0-9a-f]{40}(?![0-9a-f])"), "a W&B API key (local-...)"),
    (re.compile(r"AKIA[0-9A-Z]{16}"), "an AWS access key (AKIA...)"),
    (re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]+"), "a Slack webhook URL"),
)
_ANY_KNOWN = re.compile("|".join(f"(?:{pattern.pattern})" for pattern, _ in _KNOWN))
_WORD = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
_HEX = re.compile(r"[0-9a-fA-F]{32,}")
_SHORTEST = 15  # no known format, and no random word, is shorter


@lru_cache(maxsize=8192)
def describe(text: str) -> str | None:
    """What `text` looks like when it holds a credential (`a GitHub token (ghp_...)`), or None."""
    if len(text) < _SHORTEST:
        return None
    if _ANY_KNOWN.search(text):
        return next(what for pattern, what in _KNOWN if pattern.search(text))
    if len(text) >= 32:
        for word in _WORD.findall(text):
            if _random(word):
                return "a long random string, like a key or token"
    return None


def _random(word: str) -> bool:
    if _HEX.fullmatch(word):
        return any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
    mixed = all(any(test(c) for c in word) for test in (str.isupper, str.islower, str.isdigit))
    return mixed and _entropy(word) >= 4.5


def _entropy(word: str) -> float:
    counts = Counter(word)
    return -sum(n / len(word) * math.log2(n / len(word)) for n in counts.values())


def refusal(what: str, place: str) -> str:
    """The message for a credential-looking value at a `place`: name, env or text."""
    if place == "name":
        return (
            f"this looks like {what}, not a secret's name; keep the value out of git: "
            "declare a secret under `secrets:` whose `from_env` names the environment "
            "variable that holds it, and give the secret's name here"
        )
    if place == "env":
        return (
            f"this looks like {what}, not an environment variable's name; set a variable "
            "to it where apply runs and name the variable here"
        )
    return (
        f"this looks like {what}; a credential here would be stored in git and shown in "
        "plans: declare it under `secrets:` and let the webhook send it (`access_token`, "
        "used as ${ACCESS_TOKEN}, or `secret`, used as ${NAME})"
    )


def shown(value: str) -> str:
    """`value` quoted for a message, or what it looks like when it may be a credential."""
    what = describe(value)
    return f"a value that looks like {what}" if what else repr(value)


Pointer = tuple[str | int, ...]


def strings(value: object) -> list[tuple[Pointer, str]]:
    """Every string value (not key) inside nested mappings and lists, with its path."""
    found: list[tuple[Pointer, str]] = []
    stack: list[tuple[Pointer, object]] = [((), value)]
    while stack:
        pointer, item = stack.pop()
        if isinstance(item, str):
            found.append((pointer, item))
        elif isinstance(item, dict):
            stack.extend(((*pointer, key), child) for key, child in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend(((*pointer, i), child) for i, child in reversed(list(enumerate(item))))
    return found

"""The ownership marker: how an object on the server says it is managed from git.

W&B objects have few free-text fields, so the marker lives where a person sees it:

- an automation's description ends with the line `[managed by reconcile]`
  (`[managed by reconcile; protected]` when `protect: true`), and since apply records
  what it wrote, `; applied:` and a digest of the applied spec before the `]`;
- a webhook's URL carries the fragment `#managed-by-reconcile`, followed by the
  rotation counters of its secrets that are above zero (`;DEPLOY_TOKEN=2`), and,
  for a URL read from the environment, its variable and rotation (`;url:SLACK_URL=0`),
  then the digest of the applied spec (`;applied:0123456789ab`).
  A fragment is never sent in an HTTP request, so delivery is unchanged.
- the digest (plan/normalize.py `digest`) lets a plan tell an edit made on the server
  since the last apply from a change the inventory proposes; a marker without one
  (written before digests were recorded) is managed all the same.
- a secret has only a name: it counts as managed while a managed webhook uses it,
  and its last written rotation is the one its managed webhooks record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The name of the webhook that serves as the apply lock (see apply/lock.py); reserved.
LOCK_NAME = "reconcile-lock"
DESCRIPTION_MARKER = "[managed by reconcile]"
PROTECTED_MARKER = "[managed by reconcile; protected]"
FRAGMENT = "managed-by-reconcile"
_DESCRIPTION = re.compile(
    r"(?:\n\n)?\[managed by reconcile(; protected)?(?:; applied:([0-9a-f]{12}))?\]\Z"
)
_APPLIED = re.compile(r"^applied:([0-9a-f]{12})$")
_ROTATION = re.compile(r"^([A-Za-z0-9_]+)=([0-9]+)$")
_ENV_URL = re.compile(r"^url:([A-Za-z_][A-Za-z0-9_]*)=([0-9]+)$")


@dataclass(frozen=True)
class Marked:
    """What a marked field says: the user's own text, and the marker's facts."""

    text: str
    managed: bool
    protected: bool = False
    rotations: tuple[tuple[str, int], ...] = ()
    env_url: tuple[str, int] | None = None  # the URL's variable and rotation, if from env
    applied: str | None = None  # the digest of the spec the last apply wrote, if recorded


def mark_description(description: str, protected: bool, applied: str | None = None) -> str:
    marker = PROTECTED_MARKER if protected else DESCRIPTION_MARKER
    if applied is not None:
        marker = f"{marker[:-1]}; applied:{applied}]"
    return f"{description}\n\n{marker}" if description else marker


def read_description(description: str | None) -> Marked:
    text = description or ""
    found = _DESCRIPTION.search(text)
    if found is None:
        return Marked(text, managed=False)
    return Marked(
        text[: found.start()],
        managed=True,
        protected=bool(found.group(1)),
        applied=found.group(2),
    )


def mark_url(
    url: str,
    rotations: dict[str, int],
    env: tuple[str, int] | None = None,
    applied: str | None = None,
) -> str:
    counters = "".join(f";{name}={n}" for name, n in sorted(rotations.items()) if n > 0)
    source = f";url:{env[0]}={env[1]}" if env else ""
    digest = f";applied:{applied}" if applied else ""
    return f"{url}#{FRAGMENT}{counters}{source}{digest}"


def read_url(url: str) -> Marked:
    base, _, fragment = url.partition("#")
    parts = fragment.split(";")
    if parts[0] != FRAGMENT:
        return Marked(url, managed=False)
    rotations = []
    env_url = None
    applied = None
    for part in parts[1:]:
        match = _ROTATION.match(part)
        if match:
            rotations.append((match.group(1), int(match.group(2))))
        elif found := _ENV_URL.match(part):
            env_url = (found.group(1), int(found.group(2)))
        elif digest := _APPLIED.match(part):
            applied = digest.group(1)
    return Marked(base, managed=True, rotations=tuple(rotations), env_url=env_url, applied=applied)

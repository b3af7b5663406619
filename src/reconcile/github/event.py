"""The workflow's event (GITHUB_EVENT_PATH): the files a change touches, the commit
planned, and the pull request a merge-queue entry is for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconcile.core.errors import UsageError
from reconcile.github.api import GitHub
from reconcile.github.body import Planned

# GitHub's compare lists at most 300 files: beyond that a change counts as touching all.
COMPARE_FILES = 300
_NO_COMMIT = "0" * 40
_QUEUE_REF = re.compile(r"^refs/heads/gh-readonly-queue/.+/pr-(\d+)-[0-9a-f]{40}$")


@dataclass(frozen=True)
class Event:
    """The event's name and payload."""

    name: str
    payload: dict[str, Any]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Event:
        path = env.get("GITHUB_EVENT_PATH")
        if not path:
            raise UsageError("run in a workflow: GITHUB_EVENT_PATH is not set")
        try:
            payload = json.loads(Path(path).read_text("utf-8"))
        except (OSError, ValueError) as error:
            raise UsageError(f"{path}: cannot read the event file ({error})") from None
        if not isinstance(payload, dict):
            raise UsageError(f"{path}: the event is not a JSON object")
        return cls(env.get("GITHUB_EVENT_NAME", ""), payload)

    def section(self, key: str) -> dict[str, Any]:
        found = self.payload.get(key)
        return found if isinstance(found, dict) else {}


async def changed_files(github: GitHub, event: Event) -> list[str] | None:
    """The paths the event's change touches; None when every path counts (a schedule, a
    run by hand, a new branch, or more files than GitHub lists)."""
    if event.name in ("pull_request", "pull_request_target"):
        number = event.section("pull_request").get("number")
        if not isinstance(number, int):
            raise UsageError("the pull_request event has no pull request number")
        files = await github.pages(github.path("pulls", number, "files"), {"per_page": 100})
        return _names(files)
    if event.name == "push":
        base, head = event.payload.get("before"), event.payload.get("after")
    elif event.name == "merge_group":
        group = event.section("merge_group")
        base, head = group.get("base_sha"), group.get("head_sha")
    else:
        return None
    if not isinstance(base, str) or not isinstance(head, str) or base == _NO_COMMIT:
        return None
    compared = await github.call("GET", github.path("compare", f"{base}...{head}"))
    listed = compared.get("files") if isinstance(compared, dict) else None
    if not isinstance(listed, list) or len(listed) >= COMPARE_FILES:
        return None
    return _names(listed)


def _names(files: list[Any]) -> list[str]:
    """Each file's path, and its old path when it was renamed (it left that folder)."""
    names: list[str] = []
    for item in files:
        if isinstance(item, dict):
            names += [str(item[k]) for k in ("filename", "previous_filename") if item.get(k)]
    return names


def planned(event: Event, commit: str | None) -> Planned:
    """The commit planned (GITHUB_SHA) and, on a pull request, the head it merges."""
    head = event.section("pull_request").get("head")
    sha = head.get("sha") if isinstance(head, dict) else None
    return Planned(commit, sha if isinstance(sha, str) else None)


def queued_pull(event: Event) -> int:
    """The pull request a merge_group event checks (from its gh-readonly-queue ref)."""
    ref = event.section("merge_group").get("head_ref")
    found = _QUEUE_REF.match(ref) if isinstance(ref, str) else None
    if event.name != "merge_group" or found is None:
        raise UsageError(
            "run on a merge_group event: its head_ref names the pull request queued "
            f"(event {event.name or 'unknown'})"
        )
    return int(found.group(1))

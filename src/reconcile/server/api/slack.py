"""A team's Slack integrations as an admin makes them: `reconcile server
create-slack-integration`, on the database or through `createSlackIntegration` (W&B makes
them through OAuth in its UI, so this is the only way to make one here).
"""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

from reconcile.server.api import validation
from reconcile.server.errors import InvalidInput, NotFound
from reconcile.server.store import automations as hooks
from reconcile.server.store.automations import SlackIntegration
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.teams import Team


def ensure(con: sqlite3.Connection, team: Team, channel: str, slack_team: str) -> SlackIntegration:
    """The team's integration for `channel` (`#` optional), created if missing; an
    existing one is returned unchanged."""
    if team.is_org:
        raise InvalidInput(f"{team.name} is an organization's entity; Slack belongs to its teams")
    name = validation.check_slack_channel(channel)
    workspace = validation.check_slack_team(slack_team)
    return hooks.ensure_slack(con, team.id, name, workspace)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput("a Slack incoming-webhook URL must be an http(s) URL with a host")
    return url


def set_url(
    con: sqlite3.Connection, box: SecretBox, team: Team, channel: str, url: str
) -> SlackIntegration:
    """Set the incoming-webhook URL of the team's integration for `channel`.

    The URL is a credential (anyone holding it can post to the channel): it is stored
    encrypted with the secrets' key and never shown.
    """
    name = validation.check_slack_channel(channel)
    check_url(url)
    row = con.execute(
        "SELECT id FROM integrations WHERE entity_id = ? AND kind = ? AND channel_name = ?",
        (team.id, hooks.SLACK, name),
    ).fetchone()
    if row is None:
        raise NotFound(f"no Slack integration for #{name} in team {team.name!r}")
    hooks.set_slack_url(con, int(row["id"]), box.seal(url))
    made = hooks.get_integration(con, int(row["id"]))
    assert isinstance(made, SlackIntegration)
    return made

"""The outbox: deliveries written in the event's transaction, claimed and settled by the worker.

A delivery keeps the exact body and credentials sealed (encrypted like secrets), so
every attempt, before or after a restart, sends the same bytes with the same
`webhook-id`; `shown` is the body with secret values masked, for history.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from reconcile.core.model import Webhook as HookModel
from reconcile.runtime import render, signing
from reconcile.runtime.incoming import IncomingEvent
from reconcile.runtime.sender import Outcome
from reconcile.runtime.variables import Facts
from reconcile.server.api.urls import endpoint_of, shown_url
from reconcile.server.errors import NotFound
from reconcile.server.runtime.matching import Fired
from reconcile.server.store.automations import (
    SlackIntegration,
    secret_ciphertext,
    slack_url_sealed,
)
from reconcile.server.store.crypto import SecretBox
from reconcile.server.store.db import now

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
NOT_SENT = "not sent"  # the error of a delivery that had nowhere to go
SLACK_KIND = "slack"
EXCERPT = 256  # characters of an answer kept in history, after masking


@dataclass(frozen=True)
class Due:
    """A delivery to attempt now, opened."""

    id: int
    url: str
    endpoint: str
    webhook_id: str
    body: bytes = field(repr=False)  # may carry secret values
    credentials: signing.Credentials = field(repr=False)
    attempts: int = 0
    first_at: float | None = None
    # When its row was read or written (monotonic clock, before that transaction ended):
    # a worker that settled the delivery after this moment knows this copy is stale.
    read_at: float = 0.0

    @property
    def secrets(self) -> list[str]:
        """What to mask in what is recorded: the secret values it is sent with, and its
        URL with the URL's path and query (a receiver may echo them; they may be a
        credential, as a Slack incoming-webhook URL is)."""
        values = [v for v in (self.credentials.token, self.credentials.secret) if v]
        return values + render.url_secrets(self.url)


def _secrets(
    con: sqlite3.Connection, box: SecretBox, owner_id: int, hook: HookModel
) -> dict[str, str]:
    """The values of the webhook's secrets, read in `owner_id`: the webhook's own team.

    Never the team that sent the event (S12): a registry automation fires for events of
    every team of the organization, and a same-named secret in the sender's team would
    otherwise sign and authorize a delivery to another team's endpoint.
    """
    names = {ref for ref in (hook.secret, hook.access_token) if ref is not None}
    return {name: box.open(secret_ciphertext(con, owner_id, name)) for name in names}


def enqueue(
    con: sqlite3.Connection,
    box: SecretBox,
    entity_id: int,
    event_row: int,
    *,
    event: IncomingEvent,
    fired: Fired,
    app_url: str,
    holder: str | None = None,
    artifact_id: int | None = None,
) -> Due | None:
    """Queue the delivery `fired` makes and return it, opened (None if nothing is to be sent).

    The caller may hand the returned delivery to a running worker once the transaction
    is committed, so it is sent without being read back; the row is what counts.
    """
    row, hook = fired.row, None
    url, owner_id = "", 0
    if row.webhook is not None:
        w = row.webhook
        hook = HookModel(event.entity, w.name, w.url_endpoint, w.access_token_ref, w.secret_ref)
        url, owner_id = w.url_endpoint, w.entity_id
    elif row.slack is not None:
        url = _slack_url(con, box, row.slack.id)
    webhook_id = signing.delivery_id(event.entity, event.id or "", fired.automation.name)
    new = _New(entity_id, event_row, fired.automation.name, fired.automation.action.kind, url)
    if not url:
        if row.slack is not None:  # nothing can be sent: history says so, and why
            _insert(con, box, new, webhook_id, render.Rendered(b"", b""), {}, FAILED)
            _record_unsendable(con, _no_slack_url(con, row.slack), NOT_SENT)
        return None
    # `${artifact_version}` names the stored version when a write of one made the event.
    number = event_row if artifact_id is None else artifact_id
    facts = Facts(fired.automation, event, fired.metric, number, app_url, holder)
    try:
        secrets = _secrets(con, box, owner_id, hook) if hook else {}
        rendered = render.render(facts, hook, secrets)
    except (render.RenderError, NotFound) as error:
        # The event stays accepted; the delivery is failed at once, and shows why.
        _insert(con, box, new, webhook_id, render.Rendered(b"", b""), {}, FAILED)
        _record_unsendable(con, str(error), "render")
        return None
    if rendered is None:
        return None
    token = secrets.get(hook.access_token) if hook and hook.access_token else None
    secret = secrets.get(hook.secret) if hook and hook.secret else None
    credentials = {"token": token, "secret": secret}
    row_id = _insert(con, box, new, webhook_id, rendered, credentials, PENDING)
    return Due(
        row_id,
        url,
        endpoint_of(url),
        webhook_id,
        rendered.body,
        signing.Credentials(token, secret),
        read_at=time.monotonic(),
    )


@dataclass(frozen=True)
class _New:
    entity_id: int
    event_row: int
    automation: str
    kind: str
    url: str


def _insert(  # noqa: PLR0917 - one row's columns
    con: sqlite3.Connection,
    box: SecretBox,
    new: _New,
    webhook_id: str,
    rendered: render.Rendered,
    credentials: dict[str, str | None],
    status: str,
) -> int:
    sealed = json.dumps(
        {"body": base64.b64encode(rendered.body).decode(), "url": new.url, **credentials}
    )
    stamp = time.time()
    cur = con.execute(
        "INSERT INTO deliveries (event_id, entity_id, automation, kind, url, endpoint, "
        "webhook_id, sealed, shown, status, next_at, accepted_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            new.event_row,
            new.entity_id,
            new.automation,
            new.kind,
            shown_url(new.url) if new.url else "",
            endpoint_of(new.url) if new.url else "",  # '': never sendable
            webhook_id,
            box.seal(sealed),
            rendered.shown.decode("utf-8"),
            status,
            stamp,
            stamp,
            now(),
        ),
    )
    return int(cur.lastrowid or 0)


def _record_unsendable(con: sqlite3.Connection, reason: str, error: str) -> None:
    con.execute(
        "INSERT INTO attempts (delivery_id, started_at, duration, status, error, detail, "
        "excerpt, headers) VALUES (last_insert_rowid(), ?, 0, NULL, ?, ?, '', '[]')",
        (datetime.now(UTC).isoformat(timespec="milliseconds"), error, reason),
    )


def _no_slack_url(con: sqlite3.Connection, slack: SlackIntegration) -> str:
    row = con.execute("SELECT name FROM entities WHERE id = ?", (slack.entity_id,)).fetchone()
    team = row["name"] if row else "?"
    return (
        f"the Slack integration #{slack.channel_name} of team {team} has no incoming-webhook "
        f"URL (set one: reconcile server create-slack-integration {team} "
        f"{slack.channel_name} --url-env VAR)"
    )


def _slack_url(con: sqlite3.Connection, box: SecretBox, integration_id: int) -> str:
    sealed = slack_url_sealed(con, integration_id)
    return box.open(sealed) if sealed is not None else ""


def due_endpoints(con: sqlite3.Connection, at: float) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT endpoint FROM deliveries WHERE status = ? AND next_at <= ?",
        (PENDING, at),
    ).fetchall()
    return [str(r["endpoint"]) for r in rows]


def claim(
    con: sqlite3.Connection, box: SecretBox, endpoint: str, *, at: float, skip: set[int], limit: int
) -> list[Due]:
    """Up to `limit` due deliveries to `endpoint`, oldest first, less those in flight."""
    read_at = time.monotonic()
    rows = con.execute(
        "SELECT * FROM deliveries WHERE status = ? AND endpoint = ? AND next_at <= ? "
        "ORDER BY next_at LIMIT ?",
        (PENDING, endpoint, at, limit + len(skip)),
    ).fetchall()
    return [_open(box, r, read_at) for r in rows if r["id"] not in skip][:limit]


def _open(box: SecretBox, row: sqlite3.Row, read_at: float) -> Due:
    sealed = json.loads(box.open(bytes(row["sealed"])))
    credentials = signing.Credentials(sealed["token"], sealed["secret"])
    return Due(
        row["id"],
        sealed.get("url") or row["url"],
        row["endpoint"],
        row["webhook_id"],
        base64.b64decode(sealed["body"]),
        credentials,
        row["attempts"],
        row["first_at"],
        read_at,
    )


@dataclass(frozen=True)
class Attempt:
    """A finished attempt of `due`, to be recorded (`delay`: due again after it)."""

    due: Due
    started: float
    outcome: Outcome
    stored_headers: list[tuple[str, str]]
    delay: float | None


def settle(
    con: sqlite3.Connection,
    due: Due,
    started: float,
    *,
    outcome: Outcome,
    stored_headers: list[tuple[str, str]],
    delay: float | None,
) -> str:
    """Record the attempt; the delivery is delivered, failed, or due again after `delay`."""
    return settle_all(con, [Attempt(due, started, outcome, stored_headers, delay)])[0]


def settle_all(con: sqlite3.Connection, attempts: list[Attempt]) -> list[str]:
    """Record every attempt in `con`'s transaction, two statements for the lot (not two
    per attempt); each delivery's new status, in order."""
    records, updates, statuses = [], [], []
    for a in attempts:
        outcome, due = a.outcome, a.due
        records.append(_attempt_row(a))
        if outcome.ok:
            status, next_at = DELIVERED, a.started
        elif a.delay is None:
            status, next_at = FAILED, a.started
        else:
            status, next_at = PENDING, time.time() + a.delay
        updates.append((status, next_at, a.started, due.id))
        statuses.append(status)
    con.executemany(
        "INSERT INTO attempts (delivery_id, started_at, duration, status, error, detail, "
        "excerpt, headers) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        records,
    )
    con.executemany(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_at = ?, "
        "first_at = COALESCE(first_at, ?) WHERE id = ?",
        updates,
    )
    return statuses


def _attempt_row(a: Attempt) -> tuple[object, ...]:
    """An attempt's row in `attempts`, its texts masked with the delivery's secrets."""
    outcome, due = a.outcome, a.due
    return (
        due.id,
        datetime.fromtimestamp(a.started, UTC).isoformat(timespec="milliseconds"),
        round(outcome.duration, 4),
        outcome.status,
        outcome.error,
        render.mask_text(outcome.detail, due.secrets),
        _excerpt(outcome, due.secrets),
        json.dumps(a.stored_headers),
    )


def _excerpt(outcome: Outcome, secrets: list[str]) -> str:
    """The answer's excerpt as history keeps it: masked, then cut to EXCERPT characters."""
    cut = outcome.received > len(outcome.excerpt.encode("utf-8"))  # the sender kept less
    return render.masked_excerpt(outcome.excerpt, secrets, EXCERPT, cut=cut)


def resend(con: sqlite3.Connection, delivery_id: int) -> str | None:
    """Send a delivery again now: a failed one with a fresh schedule, a pending one at
    once instead of at its next retry (its attempts so far still count). The status it
    had, or None if it is neither failed nor pending, or was never attempted.

    A failed delivery without attempts had nothing to send (no URL, or a body that could
    not be rendered: its row seals no request), whatever its endpoint.
    """
    stamp = time.time()
    failed = con.execute(
        "UPDATE deliveries SET status = ?, attempts = 0, first_at = NULL, next_at = ? "
        "WHERE id = ? AND status = ? AND attempts > 0",
        (PENDING, stamp, delivery_id, FAILED),
    )
    if failed.rowcount == 1:
        return FAILED
    pending = con.execute(
        "UPDATE deliveries SET next_at = MIN(next_at, ?) WHERE id = ? AND status = ?",
        (stamp, delivery_id, PENDING),
    )
    return PENDING if pending.rowcount == 1 else None


def pending_count(con: sqlite3.Connection) -> int:
    row = con.execute("SELECT COUNT(*) FROM deliveries WHERE status = ?", (PENDING,)).fetchone()
    return int(row[0])

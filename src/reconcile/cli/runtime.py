"""The runtime's commands: `render`, `webhook test` and `receive` (part of the command line).

They work on the inventory and this machine alone, whatever server (or none) is used.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import click

from reconcile.cli.options import root_options
from reconcile.core.errors import UsageError
from reconcile.core.model import Automation, Inventory, Webhook
from reconcile.core.safe import inline, visible
from reconcile.inventory import project
from reconcile.inventory.load import load_inventory
from reconcile.inventory.schema import unknown_name
from reconcile.runtime import incoming, receiver, signing, trial
from reconcile.runtime.addresses import Policy
from reconcile.runtime.render import MASK, mask_text, masked_excerpt, render, url_secrets
from reconcile.runtime.samples import sample_event, why_not
from reconcile.runtime.sender import Limits, Outcome, Sender
from reconcile.runtime.variables import Facts

EXIT_FAILED = 1
# `render`: an event would not fire the automation (its scope, filter or state says no).
EXIT_WOULD_NOT_FIRE = 4
SHOWN_BODY = 4096


def _automation(inventory: Inventory, name: str, entity: str | None) -> Automation:
    found = [a for a in inventory.automations if a.name == name and entity in (None, a.entity)]
    if len(found) == 1:
        return found[0]
    if found:
        raise UsageError(f"automation {name!r} is declared in several teams; add --entity")
    known = [a.name for a in inventory.automations if entity in (None, a.entity)]
    raise UsageError(unknown_name("automation", name, "the inventory", known))


def _events(auto: Automation, event_file: str | None) -> tuple[incoming.IncomingEvent, ...]:
    if event_file is None:
        return (sample_event(auto),)
    try:
        text = sys.stdin.read() if event_file == "-" else Path(event_file).read_text("utf-8")
        events = incoming.parse_document(incoming.loads(text))
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--event {event_file}: cannot read it ({error})") from None
    except incoming.InvalidEvents as invalid:
        raise UsageError(f"--event {event_file}: {invalid}") from None
    wanted = incoming.TRIGGERS[auto.event.kind]
    for index, event in enumerate(events):
        if event.type not in wanted:
            raise UsageError(
                f"--event {event_file}: events[{index}] is a {event.type} event; automation "
                f"{auto.name!r} listens to {auto.event.kind}, fired by {' or '.join(wanted)} events"
            )
    return events


def _webhook(inventory: Inventory, auto: Automation) -> Webhook | None:
    to = auto.action.params.get("to")
    return next((h for h in inventory.webhooks if h.entity == auto.entity and h.name == to), None)


def _describe(auto: Automation, hook: Webhook | None) -> str:
    if auto.action.kind == "slack":
        channel = auto.action.params["channel"]
        return f"Slack notification to #{channel} ({auto.entity}'s Slack integration)"
    assert hook is not None, "a valid inventory declares every webhook it uses"
    names = ["Content-Type"]
    if hook.access_token:
        names.append(f"Authorization: Bearer {MASK} ({hook.access_token})")
    if hook.secret:
        names.append(f"X-Wandb-Signature (keyed by {hook.secret})")
    names += ["webhook-id", "webhook-timestamp"] + (["webhook-signature"] if hook.secret else [])
    url = trial.describe_url(hook)
    return f"POST {url} (webhook {hook.name}); headers: " + ", ".join(names)


@click.command("render")
@click.argument("automation")
@click.option(
    "--event",
    "event_file",
    metavar="FILE",
    help="A JSON event (or a batch) to render for; '-' reads stdin [default: a sample].",
)
@click.option("--entity", help="The team, when the name is declared in several.")
@root_options
def render_command(automation: str, event_file: str | None, entity: str | None) -> None:
    """Print the exact body AUTOMATION sends for an event, secret values masked. Offline.

    \b
    Examples:
      reconcile render notify-on-production               # a sample event
      reconcile render notify-on-production --event e.json
    """
    inventory = load_inventory(project.default_paths())
    auto = _automation(inventory, automation, entity)
    events = _events(auto, event_file)
    hook = _webhook(inventory, auto)
    origin = "a sample" if event_file is None else "the given"
    quiet = False
    for index, event in enumerate(events):
        quiet = _would_not_fire(auto, event, origin, index, len(events)) or quiet
        rendered = render(Facts(auto, event), hook)
        if rendered is None:
            if index == 0:
                click.echo(f"automation {auto.name!r} is a no_op: it sends nothing", err=True)
            continue
        click.echo(f"{origin} {event.type} event -> {_describe(auto, hook)}", err=True)
        click.echo(rendered.shown.decode("utf-8"))
    if quiet:
        sys.exit(EXIT_WOULD_NOT_FIRE)


def _would_not_fire(
    auto: Automation, event: incoming.IncomingEvent, origin: str, index: int, count: int
) -> bool:
    """Say so (on stderr) when the automation would not fire on the event, and why.

    The server's matching decides: the event's type, its scope, the stored filter
    (`runtime.filters`) and a run's state. Its body is still printed, one line per event.
    """
    refusal = why_not(auto, event)
    if refusal is not None:
        where = f"events[{index}]: " if count > 1 else ""
        click.echo(
            f"{where}automation {visible(auto.name)} would NOT fire on {origin} "
            f"{event.type} event: {inline(refusal)}",
            err=True,
        )
    return refusal is not None


@click.group()
def webhook() -> None:
    """Try the inventory's webhooks from this machine."""


@webhook.command("test")
@click.argument("name")
@click.option(
    "--payload", metavar="JSON|@FILE", help="The body to send [default: a small test object]."
)
@click.option("--entity", help="The team, when the name is declared in several.")
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow loopback, private and plain-http destinations (testing your own machine).",
)
@root_options
def webhook_test(name: str, payload: str | None, entity: str | None, allow_private: bool) -> None:
    """Send webhook NAME the request W&B sends (Bearer token, X-Wandb-Signature); exit 0 on 2xx."""
    inventory = load_inventory(project.default_paths())
    hook = trial.find_webhook(inventory, name, entity)
    creds = trial.credentials(inventory, hook, os.environ)
    given = trial.default_body(hook) if payload is None else _payload(payload)
    body = trial.with_secrets(given, hook, creds)
    request = trial.request(trial.url_of(hook, os.environ), creds, body.sent, int(time.time()))
    limits = Limits.scaled(os.environ)
    outcome = asyncio.run(
        _send_once(Policy(anywhere=allow_private, option="--allow-private"), limits, request)
    )
    click.echo(f"POST {trial.describe_url(hook)}")  # a URL from the environment is a secret
    for header, value in request.headers:
        shown = f"Bearer {MASK}" if header == "Authorization" else value
        click.echo(f"  {header}: {shown}")
    secrets = [v for v in (creds.token, creds.secret) if v] + url_secrets(request.url)
    shown = mask_text(body.shown.decode("utf-8", "replace"), secrets)
    click.echo(f"  body: {shown[:SHOWN_BODY]}")
    if body.substituted:
        names = ", ".join(f"${{{name}}}" for name in body.substituted)
        click.echo(f"  (substituted {names} with the secret values, shown {MASK})")
    _show_outcome(outcome, secrets)
    if not outcome.ok:
        sys.exit(EXIT_FAILED)


def _payload(given: str) -> bytes:
    if not given.startswith("@"):
        return trial.payload_body(given, "(inline)")
    path = Path(given[1:])
    try:
        return trial.payload_body(path.read_text("utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"--payload {given}: cannot read it ({error})") from None


async def _send_once(policy: Policy, limits: Limits, request: trial.TrialRequest) -> Outcome:
    async with Sender(policy, limits) as sender:
        return await sender.send(request.url, request.body, request.headers)


def _show_outcome(outcome: Outcome, secrets: list[str]) -> None:
    """The answer, with what it echoes of the request's secrets and URL masked."""
    took = f"{outcome.duration:.2f} s"
    detail = mask_text(outcome.detail, secrets)
    if outcome.status is None:
        click.echo(f"failed ({outcome.error}) after {took}: {detail}")
        return
    status = f"HTTP {outcome.status}"
    said = outcome.error and detail != status  # a failing status says it all
    click.echo(f"{status} in {took}" + (f" ({detail})" if said else ""))
    for header, value in outcome.headers:
        click.echo(f"  {header}: {mask_text(value, secrets)}")
    if outcome.excerpt:
        cut = outcome.received > len(outcome.excerpt.encode())
        excerpt = masked_excerpt(outcome.excerpt, secrets, len(outcome.excerpt), cut=cut)
        click.echo(f"  body: {excerpt}{' ...' if cut else ''}")


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="0 picks a free port.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--secret-env", metavar="VAR", help="Check X-Wandb-Signature with the secret in $VAR."
)
@click.option("--token-env", metavar="VAR", help="Check 'Authorization: Bearer' against $VAR.")
@click.option(
    "--status",
    type=click.IntRange(300, 599),
    metavar="CODE",
    help="Fail with this status (300-599): every request, or the first N with --fail-first.",
)
@click.option(
    "--fail-first",
    type=click.IntRange(1),
    metavar="N",
    help="Answer the first N requests with --status [default: 500], then as usual.",
)
@click.option(
    "--delay",
    type=click.FloatRange(0),
    default=0.0,
    metavar="S",
    help="Wait S seconds before each answer (past 15 s a delivery times out).",
)
def receive(  # noqa: PLR0917 - click passes each option as an argument
    port: int,
    host: str,
    secret_env: str | None,
    token_env: str | None,
    status: int | None,
    fail_first: int | None,
    delay: float,
) -> None:
    """A local endpoint that prints each request and whether its signature and token
    verify; --status, --fail-first and --delay rehearse failures, to watch retries.

    \b
    Examples:
      WEBHOOK_SECRET=... reconcile receive --port 8765 --secret-env WEBHOOK_SECRET
      reconcile receive --port 8765 --status 503 --fail-first 2
    """
    checks = receiver.Checks(_env(secret_env, "--secret-env"), _env(token_env, "--token-env"))
    rehearsal = receiver.Rehearsal(status, fail_first, delay)
    app = receiver.make_app(checks, _print_arrival, rehearsal=rehearsal)
    checks_said = [f"signature with ${secret_env}" if secret_env else "no signature check"]
    checks_said.append(f"token with ${token_env}" if token_env else "no token check")
    checks_said += _rehearsal_said(rehearsal)
    asyncio.run(_serve(app, host, port, ", ".join(checks_said)))


def _rehearsal_said(rehearsal: receiver.Rehearsal) -> list[str]:
    said = []
    failure = rehearsal.failure(1)
    if failure is not None:
        whom = (
            "every request" if rehearsal.fail_first is None else f"the first {rehearsal.fail_first}"
        )
        said.append(f"answering {failure[0]} to {whom}")
    if rehearsal.delay:
        said.append(f"each answer after {rehearsal.delay:g} s")
    return said


def _env(variable: str | None, option: str) -> str | None:
    if variable is None:
        return None
    if variable not in os.environ:
        raise UsageError(f"{option} {variable}: the environment variable {variable} is not set")
    return os.environ[variable]


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


async def _serve(app: object, host: str, port: int, said: str) -> None:
    import uvicorn

    sock = _listen(host, port)
    bound = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # announce only once it accepts
        await asyncio.sleep(0.02)
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    if server.started:
        click.echo(f"listening on http://{shown}:{bound[1]} ({said}); Ctrl-C stops")
    await task


def _print_arrival(arrival: receiver.Arrival) -> None:
    click.echo(f"{arrival.method} {arrival.path}  {len(arrival.body)} bytes")
    for header, value in arrival.headers:
        shown = f"{value.split(' ')[0]} {MASK}" if header.lower() == "authorization" else value
        click.echo(f"  {header}: {shown}")
    click.echo(f"  body: {arrival.body[:SHOWN_BODY].decode('utf-8', 'replace')}")
    click.echo(
        f"  {signing.WANDB_SIGNATURE}: {arrival.signature} · webhook-signature: "
        f"{arrival.standard} · token: {arrival.token}"
    )
    rehearsed = f" (rehearsed failure {arrival.rehearsed})" if arrival.rehearsed else ""
    click.echo(f"  answered {arrival.answered}{rehearsed}")


COMMANDS = (render_command, webhook, receive)

"""The `reconcile serve` command and the `reconcile server ...` admin commands.

These are the only server modules that print; they turn server errors into click
errors (exit code 1, one line, no traceback).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from reconcile.core import logsafe
from reconcile.core.errors import UsageError
from reconcile.core.model import REGISTRY_PREFIX
from reconcile.inventory import project
from reconcile.runtime.addresses import Policy
from reconcile.server.admin import listen
from reconcile.server.admin import tasks as admin
from reconcile.server.admin.remote import KEY_ENV, Remote, RemoteError
from reconcile.server.api.ids import encode_id
from reconcile.server.errors import ApiError
from reconcile.server.store.db import Database

DEFAULT_HELP = ".reconcile/server.db in the project root"
# Standard attributes, and uvicorn's ANSI-coloured duplicate of the message.
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """JSON lines on stderr, redacted (no URL path or query, no credential: S13)."""
    logsafe.configure(level.upper(), JsonFormatter())


def admin_key_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".admin-key")


@contextmanager
def _database(path: Path) -> Iterator[Database]:
    try:
        db = Database(path)
    except Exception as error:
        raise click.ClickException(f"cannot open {path}: {error}") from None
    try:
        yield db
    except ApiError as error:
        raise click.ClickException(hinted(error.message)) from None
    finally:
        db.close()


_MISSING = (
    (re.compile(r"entity '([^']+)' not found"), "`{command} create-team {0}` creates it"),
    (re.compile(r"user '([^']+)' not found"), "`{command} create-user {0}` creates it"),
    (
        re.compile(r"project ([^/ ]+)/(\S+) not found"),
        "`{command} create-project {0} {1}` creates it",
    ),
)


def hinted(message: str, command: str = "reconcile server") -> str:
    """A "not found" with the admin command that creates what is missing."""
    for pattern, hint in _MISSING:
        found = pattern.fullmatch(message)
        if found:
            return f"{message}; {hint.format(*found.groups(), command=command)}"
    return message


@click.command("serve")
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    help=f"SQLite database (created if missing) [default: {DEFAULT_HELP}].",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--team",
    default=admin.DEFAULT_TEAM,
    show_default=True,
    help="Team the first admin administers (first start only).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--disable-feature",
    "disabled",
    multiple=True,
    help="A feature to answer as not enabled, as an older W&B server does (repeatable).",
)
@click.option(
    "--max-connections",
    default=listen.Limits.max_connections,
    show_default=True,
    type=click.IntRange(1),
    help="Open connections at once; more are answered 503.",
)
@click.option(
    "--max-header-bytes",
    default=listen.Limits.max_header_bytes,
    show_default=True,
    type=click.IntRange(1024),
    help="Request line and headers, in bytes; more are answered 431.",
)
@click.option(
    "--read-timeout",
    default=listen.Limits.read_timeout,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a client has to send a whole request (headers and body).",
)
@click.option(
    "--allow-delivery-to",
    "allow_delivery_to",
    multiple=True,
    metavar="HOST[:PORT]|CIDR[:PORT]",
    help="Let automations deliver to this private or loopback host, address or range, on "
    "any port or only PORT ([v6]:PORT for IPv6) (repeatable). This server's own address "
    "and port is open only when named with its port.",
)
def serve(  # noqa: PLR0917 - click passes each option as an argument
    db_path: Path | None,
    host: str,
    port: int,
    team: str,
    log_level: str,
    disabled: tuple[str, ...],
    max_connections: int,
    max_header_bytes: int,
    read_timeout: float,
    allow_delivery_to: tuple[str, ...],
) -> None:
    """Run the embedded W&B-compatible server (GraphQL at /graphql, events at /api/v1/events)."""
    db_path = db_path or project.default_db()
    import uvicorn

    from reconcile.server.app import create_app

    configure_logging(log_level)
    _check_settings()  # a bad RECONCILE_ setting stops it before it listens, as a usage error
    _delivery_policy(allow_delivery_to, None)  # a malformed entry stops it before it listens
    sock = _listen(host, port)  # first: a busy port stops everything before it starts
    policy = _delivery_policy(allow_delivery_to, sock)
    env_key = os.environ.get(admin.ADMIN_KEY_ENV) or None
    with _database(db_path) as db:
        boot = admin.bootstrap(db, team=team, key=env_key)
    if boot.api_key and not env_key:
        path = admin_key_path(db_path)
        admin.write_key_file(path, boot.api_key)
        click.echo(f"Created admin user {boot.username!r} of team {boot.team!r}.")
        click.echo(f"Its API key is in {path} (readable only by you).")
    address = _address(sock)
    click.echo(f"Serving on {address}/graphql (database {project.shown(db_path)})")
    click.echo(f"Point commands at it with --server {address} (or RECONCILE_SERVER={address}).")
    # uvicorn stops gracefully on SIGINT/SIGTERM: in-flight requests finish first.
    # Its httptools parser (half the per-request CPU of h11), with our limits.
    limits = listen.Limits(max_connections, max_header_bytes, read_timeout)
    app = create_app(db_path, disabled=frozenset(disabled), allow_delivery_to=policy)
    config = listen.config(app, limits, log_config=None, access_log=False)
    listen.tune_interpreter()
    uvicorn.Server(config).run(sockets=[sock])


def _check_settings() -> None:
    """Read every RECONCILE_ setting the server reads once it runs: a bad value is then
    an error naming it, not a traceback in the log when the app starts."""
    from reconcile.runtime import schedule
    from reconcile.server.clients import routes
    from reconcile.server.runtime import api, backlog

    try:
        schedule.time_scale(os.environ)
        api.queue_events()
        backlog.bound()
        backlog.lag()
        routes.crash_timeout()
    except UsageError as error:
        raise click.UsageError(str(error)) from None


def _delivery_policy(entries: tuple[str, ...], sock: socket.socket | None) -> Policy:
    """Where deliveries may go: `--allow-delivery-to`, never this server's own address
    and port (where `sock` listens) unless an entry names that port."""
    own = []
    if sock is not None:
        address, bound = sock.getsockname()[:2]
        own.append((ipaddress.ip_address(address), int(bound)))
    try:
        return Policy.of(entries, own=own)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--allow-delivery-to") from None


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: any free one); one clear error if it cannot be.

    IPv6 when the host has a colon, as uvicorn decides when it binds by itself.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off only on sockets that
    # say so, and without it small answers wait for the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


def _address(sock: socket.socket) -> str:
    """The URL of what `sock` is bound to: the port actually chosen, IPv6 in brackets."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True)
class Where:
    """What the admin commands change: a database file, or a running server's API."""

    db: Path
    remote: Remote | None
    shown: str  # the database as given, else relative to here

    def describe(self) -> str:
        if self.remote is not None:
            return f"on the server {self.remote.url}"
        return f"in the database {self.shown}"


@click.group("server")
@click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path),
    help=f"SQLite database of the server [default: {DEFAULT_HELP}].",
)
@click.option(
    "--server",
    "url",
    metavar="URL",
    help="A server run by `reconcile serve` (its URL as serve prints it), through its API "
    f"with an admin's API key in {KEY_ENV}: every command; create-team, create-user, "
    "create-key, list-keys, delete-key and delete-user need the instance's admin (the user "
    "serve created), the others an admin of the team.",
)
@click.pass_context
def server(ctx: click.Context, db_path: Path | None, url: str | None) -> None:
    """Administer a server: users, keys, teams, projects, Slack.

    Every command says which database or server it changed. Without --server they
    change the database directly (the running server sees the change at once).

    \b
    Examples:
      reconcile server create-team acme-ml
      reconcile server --server http://127.0.0.1:8080 create-project acme-ml training
      reconcile server --db /srv/reconcile/server.db create-key mia
    """
    if url is not None and db_path is not None:
        raise click.UsageError("give --db (a database) or --server (a running server), not both")
    try:
        remote = None if url is None else Remote.of(url, os.environ.get(KEY_ENV))
    except RemoteError as error:
        raise click.UsageError(str(error)) from None
    db = db_path or project.default_db()
    ctx.obj = Where(db, remote, str(db_path) if db_path else project.shown(db))


def _where() -> Where:
    where: Where = click.get_current_context().obj
    return where


def _on_either(
    remote_action: Callable[[Remote], str],
    db_action: Callable[[Database], str | None],
    *,
    name: str = "",
    plain: bool = False,
    changes: bool = True,
) -> None:
    """Through the API with --server, else on the database; print the message, its
    first line followed by where it changed (`plain`: the message alone on stdout,
    where on stderr)."""
    where = _where()
    if where.remote is None:
        with _database(where.db) as db:
            message = db_action(db)
    else:
        try:
            message = remote_action(where.remote)
        except RemoteError as error:
            raise click.ClickException(hinted(str(error), _command())) from None
    if plain:
        click.echo(message or "", nl=bool(message))
        if changes:
            click.echo(f"({name} {where.describe()})", err=True)
    elif message:
        head, newline, rest = message.partition("\n")
        click.echo(f"{head} {where.describe()}{newline}{rest}")


def _on_server(
    remote_action: Callable[[Remote], str], db_action: Callable[[Database], str]
) -> None:
    _on_either(remote_action, db_action)


def _command() -> str:
    """How to name another admin command against the same server."""
    remote = _where().remote
    return f"reconcile server --server {remote.url}" if remote else "reconcile server"


@server.command("create-team")
@click.argument("name")
@click.option(
    "--organization",
    help="The organization it belongs to (created if missing); default: its own, named after it.",
)
def create_team(name: str, organization: str | None) -> None:
    """Create a team (an entity), if it does not exist, with the instance's admin as its
    admin (`set-role` adds others).

    \b
    Examples:
      reconcile server create-team acme-ml --organization acme
      reconcile server --server http://127.0.0.1:8080 create-team acme-ml
    """

    def told(team: str, made: str | None) -> str:
        members = f"{made} is its admin; " if made else ""
        return (
            f"team {team}\n{members}add a user to it with "
            f"`{_command()} set-role {team} USER member` (or admin)"
        )

    def act(db: Database) -> str:
        team = admin.ensure_team(db, name, organization).name
        return told(team, admin.admin_of_new_team(db, team))

    _on_either(lambda remote: told(*remote.team(name, organization)), act, name="create-team")


@server.command("create-user")
@click.argument("username")
@click.option("--email", default="")
@click.option("--team", help="Add the user to this team.")
@click.option(
    "--role", type=click.Choice(["admin", "member", "viewer"]), default="member", show_default=True
)
def create_user(username: str, email: str, team: str | None, role: str) -> None:
    """Create a user, optionally in a team with a role."""
    shown = f"user {username} ({role} of {team})" if team else f"user {username}"

    def act(db: Database) -> str:
        admin.create_user(db, username, email)
        if team:
            admin.set_role(db, team, username, role)
        return shown

    def remote_act(remote: Remote) -> str:
        remote.user(username, email)
        if team:
            remote.set_role(team, username, role)
        return shown

    _on_either(remote_act, act, name="create-user")


@server.command("create-key")
@click.argument("username")
@click.option("--description", default="")
def create_key(username: str, description: str) -> None:
    """Create an API key for a user and print it (the only time it is shown)."""
    _on_either(
        lambda remote: remote.create_key(username, description),
        lambda db: admin.create_api_key(db, username, description),
        name="create-key",
        plain=True,
    )


@server.command("set-role")
@click.argument("team")
@click.argument("username")
@click.argument("role", type=click.Choice(["admin", "member", "viewer"]))
def set_role(team: str, username: str, role: str) -> None:
    """Add a user to a team with a role, or change the role."""
    shown = f"user {username} is {'an admin' if role == 'admin' else 'a ' + role} of {team}"

    def act(db: Database) -> str:
        admin.set_role(db, team, username, role)
        return shown

    def remote_act(remote: Remote) -> str:
        remote.set_role(team, username, role)
        return shown

    _on_either(remote_act, act, name="set-role")


@server.command("create-project")
@click.argument("team")
@click.argument("name")
@click.option("--admin", "admins", multiple=True, help="User who administers it (repeatable).")
def create_project(team: str, name: str, admins: tuple[str, ...]) -> None:
    """Create a project in a team, if it does not exist.

    \b
    Examples:
      reconcile server create-project acme-ml training
      reconcile server --server http://127.0.0.1:8080 create-project acme-ml training
    """
    if admins and _where().remote is not None:
        raise click.UsageError("--admin works with --db only: through the API, you are its admin")
    _on_server(
        lambda remote: f"project {remote.project(team, name)}",
        lambda db: f"project {team}/{admin.ensure_project(db, team, name, admins).name}",
    )


@server.command("create-registry")
@click.argument("team")
@click.argument("name")
@click.option("--admin", "admins", multiple=True, help="User who administers it (repeatable).")
def create_registry(team: str, name: str, admins: tuple[str, ...]) -> None:
    """Create a registry in TEAM's organization, if it does not exist.

    The registry is the project `wandb-registry-NAME` of the organization's entity.
    """

    def act(db: Database) -> str:
        made = admin.ensure_registry(db, team, name, admins)
        return f"registry {made.entity_name}/{made.name}"

    if admins and _where().remote is not None:
        raise click.UsageError("--admin works with --db only: through the API, you are its admin")
    _on_server(lambda remote: f"registry {remote.registry(team, name)}", act)


@server.command("create-collection")
@click.argument("team")
@click.argument("names", nargs=-1, required=True, metavar="[PROJECT] NAME")
@click.option("--registry", help="The registry, by its short name as in the YAML (`model`).")
@click.option("--type", "type_name", default="model", show_default=True)
def create_collection(
    team: str, names: tuple[str, ...], registry: str | None, type_name: str
) -> None:
    """Create an artifact collection, if it does not exist.

    In a project: `TEAM PROJECT NAME`; in a registry: `TEAM --registry REGISTRY NAME`.
    """
    if registry is not None and len(names) == 1:
        project, name = REGISTRY_PREFIX + registry, names[0]
    elif registry is None and len(names) == 2:
        project, name = names
    else:
        raise click.UsageError("give TEAM PROJECT NAME, or TEAM --registry REGISTRY NAME")

    def act(db: Database) -> str:
        made = admin.ensure_collection(db, team, project, name, type_name)
        return f"collection {made.project.entity_name}/{project}/{made.name}"

    _on_server(
        lambda remote: f"collection {remote.collection(team, project, name, type_name)}", act
    )


@server.command("create-slack-integration")
@click.argument("team")
@click.argument("channel")
@click.option("--slack-team", default="workspace", show_default=True, help="Slack workspace name.")
@click.option(
    "--url-env",
    metavar="VAR",
    help="Environment variable holding the channel's incoming-webhook URL, where "
    "notifications are sent (stored encrypted, never shown; replaces a URL set before).",
)
def create_slack_integration(team: str, channel: str, slack_team: str, url_env: str | None) -> None:
    """Create a team's Slack integration for CHANNEL, if it does not exist; print its id."""
    url = None
    if url_env is not None:
        url = os.environ.get(url_env)
        if not url:
            raise click.BadParameter(f"${url_env} is not set", param_hint="--url-env")

    said = " (incoming-webhook URL set)" if url is not None else ""

    def act(db: Database) -> str:
        made = admin.ensure_slack_integration(db, team, channel, slack_team)
        if url is not None:
            admin.set_slack_url(db, team, made.channel_name, url)
        return f"{encode_id('Integration', made.id)} slack {team} #{made.channel_name}{said}"

    def remote_act(remote: Remote) -> str:
        made, name = remote.slack_integration(team, channel, slack_team, url)
        return f"{made} slack {team} #{name}{said}"

    _on_either(remote_act, act, name="create-slack-integration")


@server.command("list-keys")
@click.argument("username", required=False)
def list_keys(username: str | None) -> None:
    """List API keys (id, user, created, description); the keys themselves are never shown."""

    def lines(keys: list[tuple[object, str, str, str]]) -> str:
        return "\n".join("\t".join(str(part) for part in key).rstrip() for key in keys)

    def act(db: Database) -> str:
        keys = admin.list_keys(db, username)
        return lines([(k.id, k.username, k.created_at, k.description) for k in keys])

    def remote_act(remote: Remote) -> str:
        keys = remote.list_keys(username)
        return lines([(k["id"], k["username"], k["createdAt"], k["description"]) for k in keys])

    _on_either(remote_act, act, name="list-keys", plain=True, changes=False)


@server.command("delete-key")
@click.argument("key_id", type=click.IntRange(1))
def delete_key(key_id: int) -> None:
    """Revoke the API key KEY_ID (see list-keys): refused from the next request on."""

    def act(db: Database) -> str:
        gone = admin.delete_key(db, key_id)
        return f"key {gone.id} of {gone.username} revoked"

    def remote_act(remote: Remote) -> str:
        number, owner = remote.delete_key(key_id)
        return f"key {number} of {owner} revoked"

    _on_either(remote_act, act, name="delete-key")


@server.command("remove-member")
@click.argument("team")
@click.argument("username")
def remove_member(team: str, username: str) -> None:
    """Take a user out of a team (and out of the admins of its projects and registries)."""

    def act(db: Database) -> str:
        admin.remove_member(db, team, username)
        return f"user {username} removed from {team}"

    def remote_act(remote: Remote) -> str:
        remote.remove_member(team, username)
        return f"user {username} removed from {team}"

    _on_either(remote_act, act, name="remove-member")


@server.command("delete-user")
@click.argument("username")
def delete_user(username: str) -> None:
    """Delete a user, its API keys and its memberships."""

    def told(revoked: int) -> str:
        return f"user {username} deleted ({revoked} API key(s) revoked)"

    def act(db: Database) -> str:
        return told(admin.delete_user(db, username))

    _on_either(lambda remote: told(remote.delete_user(username)), act, name="delete-user")

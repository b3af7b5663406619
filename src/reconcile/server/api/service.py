"""One GraphQL request from body to answer: authenticate, check its cost, run it in one
transaction, map the status, encode.

The key is checked before the query is even parsed. Queries run in a read
transaction of their own connection, mutations in a write transaction that is rolled
back whole when any of its fields fails.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from graphql import ExecutionResult, GraphQLError, OperationType, execute_sync, get_operation_ast

from reconcile.server.api import auth, cost, present
from reconcile.server.api.collector import COLLECTOR
from reconcile.server.api.context import RequestContext
from reconcile.server.api.executor import DictExecutionContext
from reconcile.server.api.graph import Documents, load_schema
from reconcile.server.errors import ApiError
from reconcile.server.store.crypto import SecretBox, load_or_create_key
from reconcile.server.store.db import Database
from reconcile.server.store.teams import User

log = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]
# Starlette's JSONResponse settings, less the cycle check: answers are fresh trees.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), check_circular=False
)
# The same settings as the C encoder `_ENCODER.encode` builds afresh on every call: made
# once, a large answer's thousand pieces do not each pay for building it.
_C_ENCODE: Callable[[Any, int], list[str]] = c_make_encoder(
    None, _ENCODER.default, encode_basestring, None, ":", ",", False, False, False
)


# Above this cost an answer is encoded in pieces (one list item each): between two
# pieces other threads get the interpreter, so a large answer's encoding does not
# stall every other request for its whole length.
PIECES_ABOVE = 20_000
_PIECE_DEPTH = 5  # data, field, connection, edges, item: an item is one piece


def encode(body: dict[str, Any], *, pieces: bool = False) -> bytes:
    """An answer as the bytes of its JSON text."""
    if not pieces:
        return _ENCODER.encode(body).encode()
    out: list[str] = []
    _encode_pieces(body, _PIECE_DEPTH, out)
    return "".join(out).encode()


def _encode_pieces(value: Any, depth: int, out: list[str]) -> None:
    if depth and type(value) is dict and value:
        separator = "{"
        for key, item in value.items():
            out.append(separator + encode_basestring(key) + ":")
            _encode_pieces(item, depth - 1, out)
            separator = ","
        out.append("}")
    elif depth and type(value) is list and value:
        separator = "["
        for item in value:
            out.append(separator)
            _encode_pieces(item, depth - 1, out)
            separator = ","
        out.append("]")
    else:
        out.extend(_C_ENCODE(value, 0))


class _Rollback(Exception):
    def __init__(self, result: ExecutionResult) -> None:
        self.result = result


class GraphQLService:
    """The embedded server's request handler, independent of any HTTP framework."""

    def __init__(
        self,
        db_path: Path,
        disabled: frozenset[str] = frozenset(),
        extra: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """`extra`: resolvers of the stages above (`server/clients/`), by type and field."""
        # Features turned off make the server answer as an older W&B does without them.
        self.features = frozenset(present.FEATURES) - disabled
        self.db = Database(db_path)
        self.box = SecretBox(load_or_create_key(db_path))
        self.documents = Documents(load_schema(extra))
        # Called with what a committed mutation queued (the delivery worker's hand-over).
        self.after_write: Callable[[list[Any]], None] | None = None
        # What the stages above give their root resolvers (the upload URL signer).
        self.root_value: Any = None

    def close(self) -> None:
        self.db.close()

    def authenticate(self, authorization: str | None) -> User:
        """The caller the header's key belongs to; `Unauthenticated` otherwise."""
        auth.key_from_header(authorization)  # a malformed header needs no database
        with self.db.read() as con:
            return auth.authenticate(con, authorization)

    def handle(
        self,
        authorization: str | None,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Answer:
        """Authenticate, then run the query: the whole request, for in-process callers."""
        started = time.perf_counter()
        try:
            user = self.authenticate(authorization)
        except ApiError as error:
            return refused(error, operation_name, started)
        return self.run(user, query, variables, operation_name)

    def run(
        self,
        user: User,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Answer:
        """An authenticated caller's query, run and logged."""
        with COLLECTOR.paused():
            status, body, _spent = self._logged(user, query, variables, operation_name)
        return status, body

    def respond(
        self,
        user: User,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        base_url: str = "",
    ) -> tuple[int, bytes]:
        """`run`, with the answer encoded (in pieces when it is large)."""
        with COLLECTOR.paused():
            status, body, spent = self._logged(user, query, variables, operation_name, base_url)
            return status, encode(body, pieces=(spent or 0) > PIECES_ABOVE)

    def _logged(
        self,
        user: User,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        base_url: str = "",
    ) -> tuple[int, dict[str, Any], int | None]:
        started = time.perf_counter()
        status, body, spent = self._run(user, query, variables, operation_name or None, base_url)
        log.info(
            "graphql request",
            extra={
                "operation": operation_name or None,
                "user": user.username,
                "status": status,
                "cost": spent,
                "ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
        return status, body, spent

    def _run(
        self,
        user: User,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        base_url: str = "",
    ) -> tuple[int, dict[str, Any], int | None]:
        prepared = self.documents.prepare(query)
        if prepared.document is None:
            return 400, {"errors": [e.formatted for e in prepared.errors]}, None
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            return 400, _error("operationName does not name one operation of the query"), None
        try:
            spent = cost.operation_cost(
                self.documents.schema, prepared.fragments, operation, variables
            )
        except cost.TooExpensive as error:
            return error.status, _error(error.message, error.code), None
        write = operation.operation == OperationType.MUTATION
        queued: list[Any] = []
        try:
            with self.db.write() if write else self.db.read() as con:
                result = execute_sync(
                    self.documents.schema,
                    prepared.document,
                    context_value=RequestContext(
                        con, user, self.box, cost.Meter(spent), self.features, base_url, queued
                    ),
                    root_value=self.root_value,
                    variable_values=variables,
                    operation_name=operation_name,
                    execution_context_class=DictExecutionContext,
                )
                if write and result.errors:
                    raise _Rollback(result)
        except _Rollback as rollback:
            result = rollback.result
            queued.clear()
        if queued and self.after_write is not None:
            self.after_write(queued)
        status, body = answer(result)
        return status, body, spent


def refused(error: ApiError, operation_name: str | None, started: float) -> Answer:
    """The answer to a request refused before its body was looked at, logged."""
    log.info(
        "graphql request",
        extra={
            "operation": operation_name,
            "user": None,
            "status": error.status,
            "ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return error.status, _error(error.message, error.code)


def _error(message: str, code: str = "BAD_REQUEST") -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def answer(result: ExecutionResult) -> Answer:
    """The HTTP status and body for an execution result, as W&B clients expect them."""
    body: dict[str, Any] = {"data": result.data}
    if not result.errors:
        return 200, body
    # Variables that do not fit their types fail the whole request, before any resolver.
    status = 400 if result.data is None else 200
    errors = []
    for error in result.errors:
        errors.append(_format(error))
        original = error.original_error
        if isinstance(original, ApiError):
            status = max(status, original.status)
        elif original is not None and not isinstance(original, GraphQLError):
            status = 500
    body["errors"] = errors
    return status, body


_INVALID_VARIABLE_RE = re.compile(
    r"Variable '\$(\w+)' got invalid value .*?(?: at '([^']*)')?\Z", re.S
)


def _without_value(message: str, reason: str) -> str:
    """graphql-core's message for a refused variable, less the value it repeats whole.

    The value may hold a secret (an `insertSecret` input with one wrong field).
    """
    prefix = message.removesuffix("; " + reason)
    found = _INVALID_VARIABLE_RE.match(prefix) if prefix != message else None
    if found is None:
        return message
    where = f" at '{found[2]}'" if found[2] else ""
    return f"Variable '${found[1]}' got an invalid value{where}; {reason}"


def _format(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, ApiError):
        formatted["extensions"] = {"code": original.code}
    elif isinstance(original, GraphQLError):
        # graphql-core's own refusal of a variable's value: the client's mistake.
        formatted["message"] = _without_value(error.message, original.message)
        formatted["extensions"] = {"code": "BAD_USER_INPUT"}
    elif original is not None:
        # A bug, not a client mistake: log it, answer without internals.
        log.error("resolver failed", exc_info=original)
        formatted["message"] = "internal server error"
        formatted["extensions"] = {"code": "INTERNAL"}
    return formatted

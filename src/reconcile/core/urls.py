"""A server's base URL, from what a user gives: the base or its GraphQL endpoint."""

from __future__ import annotations


def server_base(url: str) -> str:
    """The server's base URL, given it or its GraphQL endpoint (what `serve` prints):
    every API path (`/graphql`, `/api/v1/...`) is joined to the base."""
    base = url.strip().rstrip("/")
    return base.removesuffix("/graphql").rstrip("/")

"""The syntax of `--allow-delivery-to`: hosts, addresses and CIDR ranges, each with an
optional port; anything else is refused with the reason, before a server starts.

    hooks.internal   hooks.internal:8443   10.0.0.7:9000   10.0.0.0/8   10.0.0.0/8:443
    ::1   [::1]   [::1]:9000   [fd00::/8]:443
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_FORMS = "give a host, an address or a CIDR range, optionally with :PORT ([v6]:PORT for IPv6)"


@dataclass(frozen=True)
class Entry:
    """One allow-list entry: a host name or a network, and a port (None: every port)."""

    text: str
    host: str | None = None
    network: Network | None = None
    port: int | None = None

    def allows_port(self, port: int) -> bool:
        return self.port is None or self.port == port


def parse(text: str) -> Entry:
    """The entry `text` spells; ValueError naming the entry and what is wrong with it."""
    given = text.strip()
    try:
        return _parse(given)
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None


def _parse(given: str) -> Entry:
    if not given:
        raise ValueError(f"empty; {_FORMS}")
    if any(c.isspace() for c in given) or "://" in given or "@" in given:
        raise ValueError(f"not a host, an address or a range; {_FORMS}")
    where, port = _split_port(given)
    if "/" in where:
        try:
            network = ipaddress.ip_network(where, strict=False)
        except ValueError:
            raise ValueError("not a valid CIDR range") from None
        return Entry(given, network=network, port=port)
    try:
        return Entry(given, network=ipaddress.ip_network(where), port=port)
    except ValueError:
        pass
    return Entry(given, host=_host(where), port=port)


def _split_port(given: str) -> tuple[str, int | None]:
    """The address part and the port: `[v6]:PORT`, `[v6]`, bare IPv6, or `HOST:PORT`."""
    if given.startswith("["):
        inside, bracket, rest = given[1:].partition("]")
        if not bracket or ":" not in inside:
            raise ValueError(f"brackets are for IPv6 addresses; {_FORMS}")
        if not rest:
            return inside, None
        if not rest.startswith(":"):
            raise ValueError(f"after ']' only :PORT may follow; {_FORMS}")
        return inside, _port(rest[1:])
    if given.count(":") > 1:  # IPv6 without brackets: no port can be told apart
        return given, None
    where, colon, port = given.partition(":")
    return where, _port(port) if colon else None


def _port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"the port must be a number from 1 to 65535 (got {text!r})")
    return int(text)


def _host(text: str) -> str:
    """A host name, lower case, without a final dot."""
    host = text.lower().removesuffix(".")
    if not host.isascii() or len(host) > 253 or not _HOST.fullmatch(host):
        raise ValueError(f"neither an address nor a valid host name; {_FORMS}")
    if host.rpartition(".")[2].isdigit():  # 127.1, 2130706433: not a name, not a whole address
        raise ValueError("not a valid address: write IPv4 addresses in full (127.0.0.1)")
    return host

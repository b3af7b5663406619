"""Where deliveries may go: public addresses, plus what is explicitly allow-listed.

The check is made on the addresses a host *resolves to* (so `127.1`, `2130706433`
and a DNS name pointing at 10.0.0.1 are caught alike), and the sender connects to
exactly the address that passed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from reconcile.runtime import allowlist

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA = ipaddress.ip_address("169.254.169.254")
# Special-purpose ranges, beyond what Python's `ipaddress` flags (`is_private`,
# `is_reserved`, `is_global`, ...) say, which follow the IANA special-purpose registries
# as they were when that Python was released. Each is in the registries (or deprecated
# from them) and is no place for a webhook.
_NAMED: list[tuple[str, Network]] = [
    # RFC 6598: shared address space (carrier-grade NAT).
    ("shared (CGNAT)", ipaddress.ip_network("100.64.0.0/10")),
    # RFC 791 / RFC 6890: "this network".
    ("this-network", ipaddress.ip_network("0.0.0.0/8")),
    # RFC 6890: IETF protocol assignments; Python 3.11 knows only 192.0.0.0/29 and
    # 192.0.0.170/31 of it, so 192.0.0.8 (RFC 7600, the IPv4 dummy address) passed.
    ("IETF protocol assignments", ipaddress.ip_network("192.0.0.0/24")),
    # RFC 7526: the deprecated 6to4 relay anycast prefix.
    ("6to4 relay anycast", ipaddress.ip_network("192.88.99.0/24")),
    # RFC 4291 (deprecated): IPv4-compatible IPv6 addresses.
    ("IPv4-compatible IPv6", ipaddress.ip_network("::/96")),
    # RFC 3056: 6to4, which carries an IPv4 address (possibly a private one).
    ("6to4", ipaddress.ip_network("2002::/16")),
    # RFC 4380: Teredo, which carries an IPv4 address too.
    ("Teredo", ipaddress.ip_network("2001::/32")),
    # RFC 8215: local-use IPv4/IPv6 translation.
    ("NAT64 (local use)", ipaddress.ip_network("64:ff9b:1::/48")),
    # RFC 6666: discard-only.
    ("discard-only", ipaddress.ip_network("100::/64")),
    # RFC 9780: the dummy IPv6 prefix.
    ("dummy IPv6 prefix", ipaddress.ip_network("100:0:0:1::/64")),
    # RFC 3879: site-local, deprecated (Python has `is_site_local` but not in
    # `is_private`, so fec0::/10 counted as global).
    ("site-local", ipaddress.ip_network("fec0::/10")),
    # RFC 9637: documentation, next to 2001:db8::/32.
    ("documentation", ipaddress.ip_network("3fff::/20")),
    # RFC 9602: segment routing (SRv6) SIDs.
    ("SRv6 SIDs", ipaddress.ip_network("5f00::/16")),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded(ip: Address) -> Address | None:
    """The IPv4 address an IPv6 address carries (mapped or NAT64), if any."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def kind_of(ip: Address) -> str | None:
    """Why `ip` is not a public unicast address ("loopback", "private", ...); None if it is."""
    inner = _embedded(ip)
    if inner is not None:
        inner_kind = kind_of(inner)
        return f"IPv4-mapped {inner_kind}" if inner_kind else None
    if ip == METADATA:
        return "cloud metadata"
    if ip.is_unspecified or ip.is_loopback:
        return "unspecified" if ip.is_unspecified else "loopback"
    for name, network in _NAMED:
        if ip.version == network.version and ip in network:
            return name
    for name, flag in (
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not global", not ip.is_global),
    ):
        if flag:
            return name
    return None


Own = tuple[Address, int]
ALLOW_OPTION = "--allow-delivery-to"


@dataclass(frozen=True)
class Policy:
    """Public addresses are allowed; `allowed` entries add more (and permit plain http).

    `own`: the addresses and ports this server listens on; a delivery there is refused
    unless an entry names it with its port (an entry without a port never opens the
    server's own API). An unspecified address (0.0.0.0, ::) there stands for every
    address that is not public. `anywhere` lifts the address check entirely (`webhook
    test --allow-private`). `option`: the command-line option a refusal names as the
    way to allow the destination (`--allow-delivery-to` takes the entry to write,
    spelled for the refused host and port; a flag such as `--allow-private` is named
    alone).
    """

    allowed: tuple[allowlist.Entry, ...] = ()
    own: tuple[Own, ...] = ()
    anywhere: bool = False
    option: str = ALLOW_OPTION

    @classmethod
    def of(cls, entries: Iterable[str], anywhere: bool = False, own: Iterable[Own] = ()) -> Policy:
        """From `--allow-delivery-to` values; ValueError names an entry that is malformed."""
        return cls(tuple(allowlist.parse(e) for e in entries), tuple(own), anywhere)

    def _listed(self, ip: Address, port: int, *, exactly: bool = False) -> bool:
        """Whether an entry's network holds `ip` (or the IPv4 address it carries) for
        `port`; `exactly`: only an entry that names the port counts."""
        inner = _embedded(ip)
        candidates = [ip] if inner is None else [ip, inner]
        return any(
            e.network is not None
            and (e.port == port if exactly else e.allows_port(port))
            and any(c.version == e.network.version and c in e.network for c in candidates)
            for e in self.allowed
        )

    def _named(self, host: str, port: int, *, exactly: bool = False) -> bool:
        name = host.lower().rstrip(".")
        return any(
            e.host == name and (e.port == port if exactly else e.allows_port(port))
            for e in self.allowed
        )

    def _own(self, ip: Address, port: int) -> bool:
        plain = _embedded(ip) or ip
        for address, listening in self.own:
            if listening != port:
                continue
            if address.is_unspecified and kind_of(ip) is not None:
                return True
            if (_embedded(address) or address) == plain:
                return True
        return False

    def refusal(
        self, scheme: str, host: str, addresses: list[Address], port: int | None = None
    ) -> str | None:
        """Why a request to `host` (resolved to `addresses`) on `port` (None: the
        scheme's) may not be sent; None if it may."""
        if self.anywhere:
            return None
        port = port or (443 if scheme == "https" else 80)
        for ip in addresses:
            if self._own(ip, port) and not (
                self._named(host, port, exactly=True) or self._listed(ip, port, exactly=True)
            ):
                return (
                    f"{_shown(host, ip)}, port {port}, is this server's own address: "
                    "deliveries go there only when allow-listed with its port"
                    + self._remedy(host, port)
                )
        if self._named(host, port):
            return None
        if not addresses:
            return f"{host} resolves to no address"
        for ip in addresses:
            kind = kind_of(ip)
            if kind is not None and not self._listed(ip, port):
                return (
                    f"{_shown(host, ip)}, a {kind} address: deliveries go to public addresses "
                    "only, unless allow-listed" + self._remedy(host, port)
                )
        if scheme != "https" and not all(self._listed(ip, port) for ip in addresses):
            return (
                f"plain http to {host}: deliveries use https unless the destination is "
                "allow-listed" + self._remedy(host, port)
            )
        return None

    def _remedy(self, host: str, port: int) -> str:
        """How to allow `host` on `port`, as the user would type it."""
        if self.option != ALLOW_OPTION:
            return f" (add {self.option})"
        return f" (add {ALLOW_OPTION} {entry_for(host, port)})"


def entry_for(host: str, port: int) -> str:
    """The `--allow-delivery-to` entry that allows exactly `host` on `port`."""
    name = host.strip("[]")
    if ":" in name:  # IPv6: bracketed, so the port can be told apart
        return f"[{name}]:{port}"
    return f"{name.lower().rstrip('.')}:{port}"


def _shown(host: str, ip: Address) -> str:
    return host if _literal(host) == ip else f"{host} resolves to {ip}"


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    """The addresses of `host`, in the system resolver's order, without duplicates."""
    try:  # an address needs no resolver (and no hop to its thread pool)
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    answers = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        text = str(sockaddr[0])
        if text not in seen:
            seen.append(text)
    return seen

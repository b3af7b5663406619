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
from dataclasses import dataclass, field

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

METADATA = ipaddress.ip_address("169.254.169.254")
_NAMED: list[tuple[str, Network]] = [
    ("shared (CGNAT)", ipaddress.ip_network("100.64.0.0/10")),
    ("this-network", ipaddress.ip_network("0.0.0.0/8")),
    ("IPv4-compatible IPv6", ipaddress.ip_network("::/96")),
    ("6to4", ipaddress.ip_network("2002::/16")),
    ("Teredo", ipaddress.ip_network("2001::/32")),
    ("NAT64 (local use)", ipaddress.ip_network("64:ff9b:1::/48")),
    ("discard-only", ipaddress.ip_network("100::/64")),
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


@dataclass(frozen=True)
class Policy:
    """Public addresses are allowed; `networks` and `hosts` add more (and permit plain http).

    `anywhere` lifts the address check entirely (`webhook test --allow-private`).
    """

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)
    anywhere: bool = False

    @classmethod
    def of(cls, entries: Iterable[str], anywhere: bool = False) -> Policy:
        """From `--allow-delivery-to` values: IP addresses, CIDR ranges or host names."""
        networks: list[Network] = []
        hosts: set[str] = set()
        for entry in entries:
            text = entry.strip()
            if not text:
                raise ValueError("an empty allow-list entry")
            try:
                networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
            except ValueError:
                if "/" in text or any(c.isspace() for c in text):
                    raise ValueError(
                        f"{entry!r} is neither an address, a CIDR range nor a host"
                    ) from None
                hosts.add(text.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts), anywhere)

    def _listed(self, ip: Address) -> bool:
        inner = _embedded(ip)
        candidates = [ip] if inner is None else [ip, inner]
        return any(c.version == n.version and c in n for c in candidates for n in self.networks)

    def refusal(self, scheme: str, host: str, addresses: list[Address]) -> str | None:
        """Why a request to `host` (resolved to `addresses`) may not be sent; None if it may."""
        if self.anywhere or host.lower().rstrip(".") in self.hosts:
            return None
        if not addresses:
            return f"{host} resolves to no address"
        for ip in addresses:
            kind = kind_of(ip)
            if kind is not None and not self._listed(ip):
                shown = host if _literal(host) == ip else f"{host} resolves to {ip}"
                return (
                    f"{shown}, a {kind} address: deliveries go to public addresses only, "
                    "unless allow-listed"
                )
        if scheme != "https" and not all(self._listed(ip) for ip in addresses):
            return (
                f"plain http to {host}: deliveries use https unless the destination is allow-listed"
            )
        return None


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

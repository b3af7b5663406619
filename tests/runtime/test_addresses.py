"""S1's list: every address that is not public unicast is refused unless allow-listed."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from reconcile.runtime import addresses
from reconcile.runtime.addresses import Policy, kind_of

BLOCKED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fc00::1": "private",
    "169.254.169.254": "cloud metadata",
    "169.254.1.1": "link-local",
    "fe80::1": "link-local",
    "100.64.0.1": "shared (CGNAT)",
    "::ffff:127.0.0.1": "IPv4-mapped loopback",
    "::ffff:169.254.169.254": "IPv4-mapped cloud metadata",
    "64:ff9b::a00:1": "IPv4-mapped private",
    "::7f00:1": "IPv4-compatible IPv6",
    "2002:7f00:1::": "6to4",
    "2001:0:4136:e378::1": "Teredo",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "private",
    "255.255.255.255": "private",
    "198.18.0.1": "private",
    "192.0.2.1": "private",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]


@pytest.mark.parametrize(("address", "kind"), sorted(BLOCKED.items()))
def test_s1_not_public_addresses_are_refused_by_default(address: str, kind: str) -> None:
    ip = ipaddress.ip_address(address)
    assert kind_of(ip) == kind
    refusal = Policy().refusal("https", "hook.example", [ip])
    assert refusal == (
        f"hook.example resolves to {ip}, a {kind} address: deliveries go to public "
        "addresses only, unless allow-listed"
    )


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert kind_of(ip) is None
    assert Policy().refusal("https", "hook.example", [ip]) is None


def test_allow_list_of_ranges_and_hosts() -> None:
    policy = Policy.of(["10.0.0.0/8", "::1", "Hooks.Internal."])
    assert policy.refusal("https", "a", [ipaddress.ip_address("10.9.9.9")]) is None
    assert policy.refusal("http", "a", [ipaddress.ip_address("::1")]) is None
    assert policy.refusal("http", "hooks.internal", [ipaddress.ip_address("192.168.0.1")]) is None
    assert policy.refusal("https", "a", [ipaddress.ip_address("192.168.0.1")]) is not None
    assert Policy(anywhere=True).refusal("http", "a", [ipaddress.ip_address("127.0.0.1")]) is None
    with pytest.raises(ValueError, match="neither an address, a CIDR range nor a host"):
        Policy.of(["10.0.0.0/33"])


def test_an_address_needs_no_lookup() -> None:
    async def go() -> list[list[str]]:
        async def refuse(*_: object, **__: object) -> object:
            raise AssertionError("an address was looked up")

        asyncio.get_running_loop().getaddrinfo = refuse  # type: ignore[method-assign]
        return [await addresses.resolve(host, 80) for host in ("127.0.0.1", "::1", "10.0.0.7")]

    assert asyncio.run(go()) == [["127.0.0.1"], ["::1"], ["10.0.0.7"]]

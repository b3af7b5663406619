"""S1's list: every address that is not public unicast is refused unless allow-listed."""

from __future__ import annotations

import asyncio
import ipaddress
import re

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
    # Ranges Python's flags miss (each listed in addresses._NAMED with its RFC).
    "192.0.0.8": "IETF protocol assignments",
    "192.0.0.1": "IETF protocol assignments",
    "192.88.99.1": "6to4 relay anycast",
    "fec0::1": "site-local",
    "feff:ffff::1": "site-local",
    "3fff::1": "documentation",
    "3fff:fff:ffff::1": "documentation",
    "5f00::1": "SRv6 SIDs",
    "100:0:0:1::1": "dummy IPv6 prefix",
    "64:ff9b:1::1": "NAT64 (local use)",
    "100::1": "discard-only",
    # ... and the forms of IPv6 that carry them.
    "::ffff:192.0.0.8": "IPv4-mapped IETF protocol assignments",
    "::ffff:192.88.99.1": "IPv4-mapped 6to4 relay anycast",
    "64:ff9b::c000:8": "IPv4-mapped IETF protocol assignments",
    "64:ff9b::c058:6301": "IPv4-mapped 6to4 relay anycast",
    "64:ff9b::a9fe:a9fe": "IPv4-mapped cloud metadata",
    "::ffff:100.64.0.1": "IPv4-mapped shared (CGNAT)",
    "2002:c000:8::": "6to4",
    "2002:a9fe:a9fe::": "6to4",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
}
# Public, and the neighbours of the listed ranges (their edges are where they are said to be).
PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "192.0.1.255",
    "192.88.98.255",
    "192.88.100.0",
    "3fff:1000::1",
    "2a00:1450:4001::1",
    "2620:4f:8000::1",  # AS112 (RFC 7534): globally reachable, as the registry says
]


@pytest.mark.parametrize(("address", "kind"), sorted(BLOCKED.items()))
def test_s1_not_public_addresses_are_refused_by_default(address: str, kind: str) -> None:
    ip = ipaddress.ip_address(address)
    assert kind_of(ip) == kind
    refusal = Policy().refusal("https", "hook.example", [ip])
    assert refusal == (
        f"hook.example resolves to {ip}, a {kind} address: deliveries go to public "
        "addresses only, unless allow-listed (add --allow-delivery-to hook.example:443)"
    )


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert kind_of(ip) is None
    assert Policy().refusal("https", "hook.example", [ip]) is None


def _ip(text: str) -> addresses.Address:
    return ipaddress.ip_address(text)


def test_allow_list_of_ranges_and_hosts() -> None:
    policy = Policy.of(["10.0.0.0/8", "::1", "Hooks.Internal."])
    assert policy.refusal("https", "a", [_ip("10.9.9.9")]) is None
    assert policy.refusal("http", "a", [_ip("::1")]) is None
    assert policy.refusal("http", "hooks.internal", [_ip("192.168.0.1")]) is None
    assert policy.refusal("https", "a", [_ip("192.168.0.1")]) is not None
    assert Policy(anywhere=True).refusal("http", "a", [_ip("127.0.0.1")]) is None


def test_an_entry_with_a_port_allows_that_port_only() -> None:
    policy = Policy.of(["127.0.0.1:9000", "[::1]:9001", "10.0.0.0/8:443", "hooks.internal:8443"])
    assert policy.refusal("http", "127.0.0.1", [_ip("127.0.0.1")], 9000) is None
    assert policy.refusal("http", "127.0.0.1", [_ip("127.0.0.1")], 9001) == (
        "127.0.0.1, a loopback address: deliveries go to public addresses only, unless "
        "allow-listed (add --allow-delivery-to 127.0.0.1:9001)"
    )
    assert policy.refusal("http", "::1", [_ip("::1")], 9001) is None
    assert policy.refusal("http", "::1", [_ip("::1")], 9000) is not None
    assert policy.refusal("https", "a", [_ip("10.1.1.1")]) is None  # https: port 443
    assert policy.refusal("https", "a", [_ip("10.1.1.1")], 8443) is not None
    assert policy.refusal("http", "a", [_ip("10.1.1.1")]) is not None  # http: port 80
    assert policy.refusal("http", "hooks.internal", [_ip("10.1.1.1")], 8443) is None
    assert policy.refusal("https", "hooks.internal", [_ip("192.168.1.1")]) is not None


@pytest.mark.parametrize(
    ("entry", "host", "network", "port"),
    [
        ("127.0.0.1", None, "127.0.0.1/32", None),
        (" 127.0.0.1:8080 ", None, "127.0.0.1/32", 8080),
        ("::1", None, "::1/128", None),
        ("[::1]", None, "::1/128", None),
        ("[::1]:65535", None, "::1/128", 65535),
        ("::1:8080", None, "::1:8080/128", None),  # an IPv6 address, not a port
        ("10.0.0.0/8", None, "10.0.0.0/8", None),
        ("10.1.2.3/8:443", None, "10.0.0.0/8", 443),
        ("[fd00::/8]:1", None, "fd00::/8", 1),
        ("Hooks.Internal.", "hooks.internal", None, None),
        ("localhost:9000", "localhost", None, 9000),
        ("my_host-1.lan", "my_host-1.lan", None, None),
    ],
)
def test_allow_list_syntax(entry: str, host: str | None, network: str | None, port: int) -> None:
    (parsed,) = Policy.of([entry]).allowed
    assert (parsed.host, parsed.network, parsed.port) == (
        host,
        None if network is None else ipaddress.ip_network(network),
        port,
    )


FORMS = "give a host, an address or a CIDR range, optionally with :PORT ([v6]:PORT for IPv6)"


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("", f"empty; {FORMS}"),
        ("  ", f"empty; {FORMS}"),
        ("10.0.0.0/33", "not a valid CIDR range"),
        ("10.0.0.0/8/8", "not a valid CIDR range"),
        ("hooks/x", "not a valid CIDR range"),
        ("127.0.0.1:0", "the port must be a number from 1 to 65535 (got '0')"),
        ("127.0.0.1:65536", "the port must be a number from 1 to 65535 (got '65536')"),
        ("127.0.0.1:", "the port must be a number from 1 to 65535 (got '')"),
        ("127.0.0.1:http", "the port must be a number from 1 to 65535 (got 'http')"),
        ("127.0.0.1:-1", "the port must be a number from 1 to 65535 (got '-1')"),
        ("127.0.0.1:٣", "the port must be a number from 1 to 65535 (got '٣')"),
        ("[::1]:", "the port must be a number from 1 to 65535 (got '')"),
        ("[::1]9000", f"after ']' only :PORT may follow; {FORMS}"),
        ("[::1", f"brackets are for IPv6 addresses; {FORMS}"),
        ("[127.0.0.1]:80", f"brackets are for IPv6 addresses; {FORMS}"),
        ("[zz::1]", f"neither an address nor a valid host name; {FORMS}"),
        ("http://127.0.0.1:9000", f"not a host, an address or a range; {FORMS}"),
        ("user@host", f"not a host, an address or a range; {FORMS}"),
        ("a b", f"not a host, an address or a range; {FORMS}"),
        ("-bad.example", f"neither an address nor a valid host name; {FORMS}"),
        ("bad..example", f"neither an address nor a valid host name; {FORMS}"),
        ("häst.example", f"neither an address nor a valid host name; {FORMS}"),
        ("a" * 64 + ".example", f"neither an address nor a valid host name; {FORMS}"),
        ("127.1", "not a valid address: write IPv4 addresses in full (127.0.0.1)"),
        ("2130706433", "not a valid address: write IPv4 addresses in full (127.0.0.1)"),
        ("256.0.0.1", "not a valid address: write IPv4 addresses in full (127.0.0.1)"),
    ],
)
def test_a_malformed_entry_is_refused_with_its_reason(entry: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)) as refused:
        Policy.of([entry])
    assert str(refused.value) == f"{entry!r}: {why}"


OWN = (_ip("127.0.0.1"), 8080)


def test_the_servers_own_address_needs_an_entry_with_its_port() -> None:
    for entries in (["127.0.0.1"], ["127.0.0.0/8"], ["localhost"], ["127.0.0.1:9000"]):
        policy = Policy.of(entries, own=[OWN])
        for host, spelled in (
            ("127.0.0.1", "127.0.0.1"),
            ("localhost", "localhost"),
            ("::ffff:127.0.0.1", "[::ffff:127.0.0.1]"),
        ):
            assert policy.refusal("http", host, [_ip("127.0.0.1")], 8080) == (
                f"{host if host == '127.0.0.1' else host + ' resolves to 127.0.0.1'}, "
                "port 8080, is this server's own address: deliveries go there only when "
                f"allow-listed with its port (add --allow-delivery-to {spelled}:8080)"
            ), (entries, host)
    policy = Policy.of(["127.0.0.1"], own=[OWN])
    assert policy.refusal("http", "127.0.0.1", [_ip("127.0.0.1")], 9000) is None  # another port
    assert policy.refusal("http", "h", [_ip("::ffff:127.0.0.1")], 8080) is not None
    for named in ("127.0.0.1:8080", "127.0.0.0/8:8080", "localhost:8080"):
        allowed = Policy.of([named], own=[OWN])
        assert allowed.refusal("http", "localhost", [_ip("127.0.0.1")], 8080) is None, named


def test_a_server_on_every_address_owns_its_port_on_every_address_not_public() -> None:
    policy = Policy.of(["127.0.0.0/8", "10.0.0.0/8", "::1"], own=[(_ip("0.0.0.0"), 8080)])
    for address in ("127.0.0.2", "10.1.1.1", "::1"):
        assert policy.refusal("http", "h", [_ip(address)], 8080) is not None, address
        assert policy.refusal("http", "h", [_ip(address)], 8081) is None, address
    assert policy.refusal("https", "h", [_ip("93.184.216.34")], 8080) is None


def test_an_address_needs_no_lookup() -> None:
    async def go() -> list[list[str]]:
        async def refuse(*_: object, **__: object) -> object:
            raise AssertionError("an address was looked up")

        asyncio.get_running_loop().getaddrinfo = refuse  # type: ignore[method-assign]
        return [await addresses.resolve(host, 80) for host in ("127.0.0.1", "::1", "10.0.0.7")]

    assert asyncio.run(go()) == [["127.0.0.1"], ["::1"], ["10.0.0.7"]]


def test_a_refusal_names_the_option_and_the_entry_that_allows_it() -> None:
    assert Policy().refusal("http", "::1", [_ip("::1")], 8765) == (
        "::1, a loopback address: deliveries go to public addresses only, unless "
        "allow-listed (add --allow-delivery-to [::1]:8765)"
    )
    assert Policy().refusal("http", "Hooks.Local.", [_ip("10.0.0.7")], 9000) == (
        "Hooks.Local. resolves to 10.0.0.7, a private address: deliveries go to public "
        "addresses only, unless allow-listed (add --allow-delivery-to hooks.local:9000)"
    )
    assert Policy(option="--allow-private").refusal("http", "127.0.0.1", [_ip("127.0.0.1")]) == (
        "127.0.0.1, a loopback address: deliveries go to public addresses only, unless "
        "allow-listed (add --allow-private)"
    )

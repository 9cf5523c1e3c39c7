"""The exit node's nftables ruleset: rendered from settings, checked, applied atomically.

Everything lives in one table, ``inet phoenix``. Applying sends ``table; delete table; table
{…}`` as one libnftables transaction, so the kernel swaps the whole table or, when any line
fails, keeps the previous one. A dry run checks the ruleset first. The binding is libnftables'
own Python module (Debian ``python3-nftables``, Alpine ``py3-nftables``), which is not on PyPI:
:func:`load_binding` finds it among the system's Python paths.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Final

TABLE: Final = "phoenix"
SYSTEM_PATHS: Final = (
    "/usr/lib/python3/dist-packages",  # Debian, Ubuntu
    *(f"/usr/lib/python3.{minor}/site-packages" for minor in range(8, 16)),  # Alpine
)


class FirewallError(Exception):
    """The ruleset was refused (the previous one stays) or libnftables is missing."""


# Destinations a client never reaches through the node (RFC 6890 and its successors: every
# special-purpose block that is not globally reachable, plus 6to4 and NAT64, which would carry a
# packet on to a private IPv4 address). The node's own addresses and the operator's networks
# (the VPC) are added per node. Clients get a reject, not silence, so they fail at once.
UNREACHABLE_IPV4: Final = (
    "0.0.0.0/8",  # "this network"
    "10.0.0.0/8",  # RFC 1918
    "100.64.0.0/10",  # shared address space (CGNAT)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, with the instance metadata service at .169.254
    "172.16.0.0/12",  # RFC 1918
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation
    "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
    "192.168.0.0/16",  # RFC 1918
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation
    "203.0.113.0/24",  # documentation
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the limited broadcast address
)
UNREACHABLE_IPV6: Final = (
    "::/127",  # unspecified and loopback
    "::ffff:0:0/96",  # IPv4-mapped
    "64:ff9b::/96",  # NAT64 well-known prefix: would reach IPv4 behind a VPC's NAT64
    "64:ff9b:1::/48",  # NAT64 local use
    "100::/64",  # discard-only
    "2001::/23",  # IETF protocol assignments
    "2001:db8::/32",  # documentation
    "2002::/16",  # 6to4: an IPv4 address inside, private ones included
    "3fff::/20",  # documentation (RFC 9637)
    "5f00::/16",  # SRv6 SIDs
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "fec0::/10",  # site-local (deprecated)
    "ff00::/8",  # multicast
)
DNS_PORT: Final = 53


@dataclass(frozen=True)
class FirewallSpec:
    wg_interface: str = "wg0"
    egress_interface: str = "eth0"
    listen_port: int = 51820
    # Where SSH may come from; empty: nowhere (the node is reached through its API only).
    ssh_cidrs: tuple[str, ...] = ()
    blocked_tcp_ports: tuple[int, ...] = (25,)
    ipv6_egress: bool = False
    # The operator's own networks (the VPC and its peers), unreachable like RFC 1918.
    private_networks: tuple[str, ...] = ()
    # The node's own public addresses.
    own_addresses: tuple[str, ...] = ()
    # The node's resolver addresses inside the tunnel: the only local service a client reaches.
    resolvers: tuple[str, ...] = ()


def _by_family(items: tuple[str, ...] | list[str]) -> tuple[list[str], list[str]]:
    v4: list[str] = []
    v6: list[str] = []
    for item in items:
        network = ipaddress.ip_network(item, strict=False)
        (v4 if network.version == 4 else v6).append(str(network))
    return v4, v6


def _set(name: str, kind: str, elements: list[str], interval: bool) -> str:
    flags = "\t\tflags interval\n" if interval else ""
    listed = f"\t\telements = {{ {', '.join(elements)} }}\n" if elements else ""
    # auto-merge: an operator network inside a built-in block is not an error.
    merge = "\t\tauto-merge\n" if interval else ""
    return f"\tset {name} {{\n\t\ttype {kind}\n{flags}{merge}{listed}\t}}\n"


def render(spec: FirewallSpec) -> str:
    """The ``table inet phoenix`` definition (nft syntax)."""
    wg, egress = f'"{spec.wg_interface}"', f'"{spec.egress_interface}"'
    extra4, extra6 = _by_family([*spec.private_networks, *spec.own_addresses])
    resolvers4, resolvers6 = _by_family(spec.resolvers)
    resolvers4 = [str(ipaddress.ip_network(r).network_address) for r in resolvers4]
    resolvers6 = [str(ipaddress.ip_network(r).network_address) for r in resolvers6]
    ssh4, ssh6 = _by_family(spec.ssh_cidrs)
    ssh = "".join(
        f"\t\t{family} saddr {{ {', '.join(cidrs)} }} tcp dport 22 accept\n"
        for family, cidrs in (("ip", ssh4), ("ip6", ssh6))
        if cidrs
    )
    blocked = ""
    if spec.blocked_tcp_ports:
        ports = ", ".join(str(port) for port in sorted(set(spec.blocked_tcp_ports)))
        blocked = f"\t\ttcp dport {{ {ports} }} reject with tcp reset\n"
    if spec.ipv6_egress:
        v6_forward = ""
        v6_nat = f"\t\toifname {egress} meta nfproto ipv6 masquerade\n"
    else:
        # No IPv6 out: an unreachable at once, so clients fall back to IPv4 without waiting.
        v6_forward = (
            "\t\tmeta nfproto ipv6 meta l4proto tcp reject with tcp reset\n"
            "\t\tmeta nfproto ipv6 reject with icmpv6 type no-route\n"
        )
        v6_nat = ""
    return (
        f"table inet {TABLE} {{\n"
        + _set("unreachable4", "ipv4_addr", sorted_networks([*UNREACHABLE_IPV4, *extra4]), True)
        + _set("unreachable6", "ipv6_addr", sorted_networks([*UNREACHABLE_IPV6, *extra6]), True)
        + _set("resolvers4", "ipv4_addr", resolvers4, False)
        + _set("resolvers6", "ipv6_addr", resolvers6, False)
        + "\tchain input {\n"
        "\t\ttype filter hook input priority filter; policy drop;\n"
        "\t\tct state established,related accept\n"
        "\t\tct state invalid drop\n"
        '\t\tiifname "lo" accept\n'
        f"\t\tiifname {wg} jump from_clients\n"
        f"\t\tudp dport {spec.listen_port} accept\n"
        f"{ssh}"
        "\t\ticmp type echo-request limit rate 1/second accept\n"
        "\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit,"
        " nd-router-advert, packet-too-big } accept\n"
        "\t\ticmpv6 type echo-request limit rate 1/second accept\n"
        "\t}\n"
        # What a client may reach on the node itself: its resolver, and a ping of it.
        "\tchain from_clients {\n"
        f"\t\tip daddr @resolvers4 meta l4proto {{ tcp, udp }} th dport {DNS_PORT} accept\n"
        f"\t\tip6 daddr @resolvers6 meta l4proto {{ tcp, udp }} th dport {DNS_PORT} accept\n"
        "\t\ticmp type echo-request limit rate 10/second accept\n"
        "\t\ticmpv6 type { echo-request, packet-too-big } limit rate 10/second accept\n"
        "\t\tmeta l4proto tcp reject with tcp reset\n"
        "\t\treject with icmpx type admin-prohibited\n"
        "\t}\n"
        "\tchain forward {\n"
        "\t\ttype filter hook forward priority filter; policy drop;\n"
        "\t\tct state established,related accept\n"
        f"\t\tiifname {wg} jump to_internet\n"
        "\t}\n"
        # Out of the tunnel: to the Internet through the egress interface, and nowhere else.
        "\tchain to_internet {\n"
        f"\t\toifname {wg} drop\n"
        "\t\tip daddr @unreachable4 meta l4proto tcp reject with tcp reset\n"
        "\t\tip daddr @unreachable4 reject with icmp type admin-prohibited\n"
        "\t\tip6 daddr @unreachable6 meta l4proto tcp reject with tcp reset\n"
        "\t\tip6 daddr @unreachable6 reject with icmpv6 type admin-prohibited\n"
        f"{v6_forward}"
        f"\t\toifname != {egress} reject with icmpx type admin-prohibited\n"
        f"{blocked}"
        "\t\taccept\n"
        "\t}\n"
        "\tchain postrouting {\n"
        "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
        f"\t\toifname {egress} meta nfproto ipv4 masquerade\n"
        f"{v6_nat}"
        "\t}\n"
        "}\n"
    )


def sorted_networks(items: list[str]) -> list[str]:
    """Distinct networks in address order (one family), as nft lists them."""
    networks = {ipaddress.ip_network(item, strict=False) for item in items}
    return [str(network) for network in sorted(networks)]


def render_conf(spec: FirewallSpec) -> str:
    """A standalone ``nftables.conf`` (``nft -f``) holding the same table."""
    return (
        "#!/usr/sbin/nft -f\n"
        "# Phoenix exit node ruleset (generated by phoenix-node; the daemon applies the same\n"
        "# table at start and recreates it when it vanishes).\n"
        f"table inet {TABLE}\n"
        f"delete table inet {TABLE}\n" + render(spec)
    )


def load_binding() -> ModuleType:
    """``import nftables``, from the environment or from the system's Python paths.

    The module is pure Python over ctypes (it loads libnftables.so.1), so it runs under any
    CPython 3; only the package lives outside our virtualenv or frozen binary. It is loaded
    by file location, without adding the whole system site-packages to ``sys.path``."""
    try:
        import nftables  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        return nftables  # type: ignore[no-any-return]
    for directory in SYSTEM_PATHS:
        package = Path(directory) / "nftables"
        if (package / "__init__.py").exists():
            spec = importlib.util.spec_from_file_location(
                "nftables", package / "__init__.py", submodule_search_locations=[str(package)]
            )
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules["nftables"] = module
            try:
                spec.loader.exec_module(module)
            except OSError as error:  # libnftables.so.1 missing
                del sys.modules["nftables"]
                raise FirewallError(f"libnftables cannot be loaded: {error}") from None
            return module
    raise FirewallError(
        "the nftables Python binding is missing (Debian: python3-nftables, Alpine: py3-nftables)"
    )


class Firewall:
    def __init__(self, spec: FirewallSpec) -> None:
        self.spec = spec
        self.ruleset = render(spec)
        self._nft: Any = load_binding().Nftables()
        self._applied_listing: str | None = None

    def reconfigure(self, spec: FirewallSpec) -> None:
        """Apply the ruleset of ``spec`` (checked first; on failure the old one stays)."""
        ruleset = render(spec)
        self.apply(ruleset)
        self.spec, self.ruleset = spec, ruleset

    def _run(self, command: str, *, dry: bool = False) -> str:
        self._nft.set_dry_run(dry)
        try:
            code, output, error = self._nft.cmd(command)
        finally:
            self._nft.set_dry_run(False)
        if code != 0:
            raise FirewallError(" ".join(str(error).split())[:500] or f"nft exit {code}")
        return str(output)

    def check(self, ruleset: str | None = None) -> None:
        """Raise :class:`FirewallError` if the ruleset would be refused (nothing is changed)."""
        self._run(self._transaction(ruleset or self.ruleset), dry=True)

    def apply(self, ruleset: str | None = None) -> None:
        """Check, then swap the table in one transaction; on failure the old table stays."""
        text = ruleset or self.ruleset
        self.check(text)
        self.swap(text)

    def swap(self, ruleset: str) -> None:
        """Replace the table in one transaction, unchecked: the kernel takes all or nothing."""
        self._run(self._transaction(ruleset))
        self._applied_listing = self.listing()

    @staticmethod
    def _transaction(ruleset: str) -> str:
        return f"table inet {TABLE}\ndelete table inet {TABLE}\n{ruleset}"

    def listing(self) -> str | None:
        """The table as the kernel lists it now; None when it does not exist."""
        try:
            return self._run(f"list table inet {TABLE}")
        except FirewallError:
            return None

    def intact(self) -> bool:
        """Whether the table is there and unchanged since we applied it."""
        return self._applied_listing is not None and self.listing() == self._applied_listing

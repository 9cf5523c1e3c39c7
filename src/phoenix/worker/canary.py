"""The reputation canary: a node whose public IP a DNSBL lists is drained with reason `blocked`.

A DNSBL answers an A query for the reversed address under its zone (``4.3.2.1.zone`` for
1.2.3.4; nibbles for IPv6): NXDOMAIN means not listed, an address in 127.0.0.0/8 means listed —
except 127.255.255.0/24, which Spamhaus and others use to say "query refused", not "listed".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.resolver
import dns.reversename

from phoenix.common.logging import get_logger
from phoenix.worker.nodes import ConfigApi

_log = get_logger("phoenix.worker.canary")
LISTED = ipaddress.ip_network("127.0.0.0/8")
REFUSED = ipaddress.ip_network("127.255.255.0/24")


class DnsblUnavailable(Exception):
    """A zone refused or did not answer: nothing is concluded, the job is retried."""


def make_resolver(server: str, timeout: float = 3.0) -> dns.resolver.Resolver:
    """The system's resolver, or ``host[:port]`` alone when one is configured."""
    if not server:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        host, _, port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        resolver.nameservers = [host]
        resolver.port = int(port) if port else 53
    resolver.lifetime = timeout
    return resolver


def query_name(address: str, zone: str) -> str:
    reverse = dns.reversename.from_address(address).to_text(omit_final_dot=True)
    stripped = reverse.removesuffix(".in-addr.arpa").removesuffix(".ip6.arpa")
    return f"{stripped}.{zone.strip('.')}"


def listed(resolver: dns.resolver.Resolver, address: str, zone: str) -> bool:
    try:
        answer = resolver.resolve(query_name(address, zone), "A")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return False
    except dns.exception.DNSException as error:
        raise DnsblUnavailable(f"{zone}: {type(error).__name__}") from None
    codes = [ipaddress.ip_address(record.to_text()) for record in answer]
    if any(code in REFUSED for code in codes):
        raise DnsblUnavailable(f"{zone} refused the query ({', '.join(map(str, codes))})")
    return any(code in LISTED for code in codes)


@dataclass(frozen=True)
class Canary:
    api: ConfigApi
    resolver: dns.resolver.Resolver
    zones: list[str]

    def run(self) -> int:
        """Check every active node; drain the listed ones. Returns how many were drained."""
        drained = 0
        for node in self.api.nodes("active"):
            if node.public_ip is None:
                continue
            hits = [zone for zone in self.zones if listed(self.resolver, node.public_ip, zone)]
            if hits:
                self.api.drain(node.id, "blocked")
                _log.warning("node_blocklisted", node=str(node.id), zones=hits)
                drained += 1
        return drained

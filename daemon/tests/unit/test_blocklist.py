"""What a node accepts as a blocklist's names (nothing but host names, each a line of Unbound's
configuration), and the Unbound configuration it writes. The manifest's signature, made by the
worker's code, is checked in tests/integration/node_with_server/test_blocklist_manifest.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from phoenix_node.blocklist import BlocklistError, parse_names
from phoenix_node.resolver import Options, render, without_covered, zone_lines

NAMES = b"ads.example.com\ndoubleclick.net\n"
DIGEST = hashlib.sha256(NAMES).hexdigest()


def test_a_names_file_is_taken_only_with_the_manifests_digest() -> None:
    assert parse_names(NAMES, DIGEST, "base") == {"ads.example.com", "doubleclick.net"}
    with pytest.raises(BlocklistError, match="sha256"):
        parse_names(NAMES + b"more.example\n", DIGEST, "base")


@pytest.mark.parametrize(
    "line",
    [
        'evil.com." always_transparent\nlocal-zone: "bank.com',  # config injection
        "Upper.example",
        "-leading.example",
        "space in.example",
        "a" * 64 + ".example",
        "tab\t.example",
        "",
        "dot..example",
        "ünïcode.example",
    ],
)
def test_a_names_file_with_one_line_not_a_host_name_is_refused_whole(line: str) -> None:
    data = b"good.example\n" + line.encode() + b"\n"
    with pytest.raises(BlocklistError):
        parse_names(data, hashlib.sha256(data).hexdigest(), "base")


def test_unbound_keeps_no_log_listens_on_its_address_and_answers_only_the_nodes_pools() -> None:
    text = render(
        Options(upstreams=("9.9.9.9@853#dns.quad9.net",), upstream_tls=True),
        Path("/run/phoenix-node/unbound/base"),
        "100.64.0.2",
        ("10.64.16.0/20", "fd10:7068:6f65:1::/64"),
        Path("/run/phoenix-node/unbound/base/zones.conf"),
    )
    lines = [line.strip() for line in text.splitlines()]
    assert [line for line in lines if line.startswith("interface:")] == ["interface: 100.64.0.2@53"]
    assert "access-control: 0.0.0.0/0 refuse" in lines
    assert "access-control: 10.64.16.0/20 allow" in lines
    for setting in ("log-queries: no", "log-replies: no", 'logfile: ""', "use-syslog: no"):
        assert setting in lines
    assert "verbosity: 0" in lines
    assert "forward-tls-upstream: yes" in lines
    assert "forward-addr: 9.9.9.9@853#dns.quad9.net" in lines


def test_each_blocked_name_is_an_nxdomain_zone() -> None:
    assert zone_lines({"b.example", "a.example"}) == (
        'local-zone: "a.example." always_nxdomain\nlocal-zone: "b.example." always_nxdomain\n'
    )


def test_a_name_under_another_listed_name_needs_no_zone_of_its_own() -> None:
    names = frozenset(
        {"doubleclick.net", "ad.doubleclick.net", "a.b.doubleclick.net", "net-ads.com", "ads.x.org"}
    )
    assert without_covered(names) == {"doubleclick.net", "net-ads.com", "ads.x.org"}


def test_recursing_from_the_roots_unbound_never_queries_private_space() -> None:
    def queried_never(options: Options) -> list[str]:
        text = render(options, Path("/run/x"), "100.64.0.2", ("10.64.0.0/20",), Path("/run/z"))
        return [line.split()[1] for line in text.splitlines() if "do-not-query-address" in line]

    refused = queried_never(Options())
    assert {"169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "fc00::/7"} <= set(refused)
    assert queried_never(Options(upstreams=("169.254.169.253",))) == []  # the VPC's resolver

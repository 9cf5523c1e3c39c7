"""Blocklist downloads are outside bytes: any text is a parsed list or NotAHostsFile, and every
name kept is already in its stored form (normalising it again changes nothing)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from phoenix.worker.hosts import MAX_NAME, NotAHostsFile, normalise, parse
from tests.fuzz.budget import FUZZ
from tests.fuzz.mutations import mutated_text

HOSTS_FILE = """# Title: StevenBlack/hosts
127.0.0.1 localhost
::1 localhost
fe80::1%lo0 localhost
0.0.0.0 0.0.0.0

0.0.0.0 ads.example.com tracker.example.net # inline comment
0.0.0.0 xn--bcher-kva.example
127.0.0.1 Bücher.Example.
0.0.0.0 a-b_c.example.org
0.0.0.0 Shop.Example.COM 10.1.2.3
"""

names = st.text(
    st.sampled_from("abcxyzABZ019-_.ÄüßЖ\u200dxn-"), min_size=1, max_size=70
) | st.sampled_from(
    ["localhost", "0.0.0.0", "::1", "10.0.0.1", "1.2.3.4.", "a" * 64 + ".com", "-a.com", "a..b"]
)
lines = st.builds(
    lambda address, hosts, comment: f"{address} {' '.join(hosts)}{comment}",
    st.sampled_from(["0.0.0.0", "127.0.0.1", "::1", "10.0.0.1", "#", "<html>", ""]),
    st.lists(names, max_size=3),
    st.sampled_from(["", " # c", "\t#", "\r"]),
)
files = st.lists(lines, max_size=12).map(lambda rows: "\n".join(rows) + "\n")


@FUZZ
@given(mutated_text(st.just(HOSTS_FILE), most=8) | files | st.text(max_size=200))
def test_any_text_is_a_hosts_file_or_not_a_hosts_file(text: str) -> None:
    try:
        parsed = parse(text)
    except NotAHostsFile:
        return
    assert parsed.names
    assert parsed.entries >= len(parsed.names) + parsed.skipped
    for name in parsed.names:
        assert normalise(name) == name
        assert len(name) <= MAX_NAME
        assert name.isascii()
        assert name == name.lower()
        assert not is_address(name)


@FUZZ
@given(names | st.text(max_size=80))
def test_a_normalised_name_is_a_fixed_point(raw: str) -> None:
    name = normalise(raw)
    if name is not None:
        assert normalise(name) == name


def test_the_seed_file_keeps_what_it_blocks() -> None:
    parsed = parse(HOSTS_FILE)
    assert {"ads.example.com", "shop.example.com", "xn--bcher-kva.example"} <= parsed.names
    assert not {"localhost", "10.1.2.3"} & parsed.names


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True

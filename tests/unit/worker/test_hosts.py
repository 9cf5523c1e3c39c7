"""Parsing StevenBlack-format hosts files into the names the filter holds."""

from __future__ import annotations

import pytest

from phoenix.worker.hosts import NotAHostsFile, normalise, parse

HEADER = """\
# Title: StevenBlack/hosts
#
# Date: 23 November 2026
# ===============================================================

127.0.0.1 localhost
127.0.0.1 localhost.localdomain
127.0.0.1 local
255.255.255.255 broadcasthost
::1 localhost
::1 ip6-localhost
::1 ip6-loopback
fe80::1%lo0 localhost
ff00::0 ip6-localnet
ff00::0 ip6-mcastprefix
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
ff02::3 ip6-allhosts
0.0.0.0 0.0.0.0

# Custom host records are listed here.

# End of custom host records.
"""


def hosts(*lines: str) -> str:
    return (
        HEADER
        + "".join(line + "\n" for line in lines)
        + "\n".join(f"0.0.0.0 filler{i}.example.com" for i in range(20))
        + "\n"
    )


def test_both_blocking_addresses_count_and_the_header_is_skipped() -> None:
    parsed = parse(hosts("0.0.0.0 ads.example.com", "127.0.0.1 tracker.example.net"))
    assert {"ads.example.com", "tracker.example.net"} <= parsed.names
    assert not parsed.names & {"localhost", "broadcasthost", "ip6-localhost", "0.0.0.0", "local"}
    assert len(parsed.names) == 22


def test_comments_and_inline_comments_are_ignored() -> None:
    parsed = parse(
        hosts(
            "# 0.0.0.0 commented.example.com",
            "0.0.0.0 inline.example.com # a comment naming other.example.com",
            "0.0.0.0 tight.example.com#glued",
            "   # indented comment",
        )
    )
    assert {"inline.example.com", "tight.example.com"} <= parsed.names
    assert "commented.example.com" not in parsed.names
    assert "other.example.com" not in parsed.names


def test_names_are_lowercased_punycoded_and_lose_the_trailing_dot() -> None:
    parsed = parse(
        hosts("0.0.0.0 ADS.Example.COM.", "0.0.0.0 bücher.example", "0.0.0.0 ÄÖÜ.example.de")
    )
    assert "ads.example.com" in parsed.names
    assert "xn--bcher-kva.example" in parsed.names
    assert "xn--4ca0bs.example.de" in parsed.names


def test_duplicates_are_removed_but_counted_as_entries() -> None:
    parsed = parse(
        hosts("0.0.0.0 dup.example.com", "0.0.0.0 DUP.example.com", "0.0.0.0 dup.example.com.")
    )
    assert "dup.example.com" in parsed.names
    assert parsed.entries - parse(hosts()).entries == 3
    assert len(parsed.names) == len(parse(hosts()).names) + 1


def test_several_names_on_one_line_all_count() -> None:
    parsed = parse(hosts("0.0.0.0 a.example.com b.example.com\tc.example.com"))
    assert {"a.example.com", "b.example.com", "c.example.com"} <= parsed.names


@pytest.mark.parametrize(
    "bad",
    [
        "-lead.example.com",
        "trail-.example.com",
        "sp ace",
        "under score!.example.com",
        "a..b.example.com",
        "x" * 64 + ".example.com",
        ("a" * 60 + ".") * 5 + "com",
        "singlelabel",
        "10.0.0.1",
        "localhost",
        "ip6-allnodes",
        "xn--.example.com",
    ],
)
def test_invalid_and_localhost_type_names_are_skipped(bad: str) -> None:
    assert normalise(bad) is None


def test_underscores_and_digits_are_valid_dns_labels() -> None:
    assert normalise("_dmarc.example.com") == "_dmarc.example.com"
    assert normalise("1.2.3.example.com") == "1.2.3.example.com"


def test_skipped_names_are_counted() -> None:
    parsed = parse(hosts("0.0.0.0 localhost", "0.0.0.0 -bad.example.com"))
    assert parsed.skipped >= 3  # the header's 0.0.0.0 line and the two above


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty"),
        ("   \n\n", "empty"),
        ("<!DOCTYPE html>\n<html><body>Rate limited</body></html>\n", "markup"),
        ("<html>\n0.0.0.0 a.example.com\n</html>\n", "markup"),
        (HEADER + "0.0.0.0 ads.example.com\n0.0.0.0 cut.exam", "truncated"),
        ("# only comments\n# here\n", "no blockable host"),
        ("hello\nworld\nthis is prose\n0.0.0.0 a.example.com\n", "not hosts entries"),
    ],
)
def test_a_body_that_is_no_hosts_file_fails_loudly(body: str, reason: str) -> None:
    with pytest.raises(NotAHostsFile, match=reason):
        parse(body)

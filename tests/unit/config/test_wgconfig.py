"""The WireGuard config of /v1/connect: JSON shape, wg-quick round trip, sealed server keys."""

from __future__ import annotations

import base64
import ipaddress
import logging
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import nacl.exceptions
import nacl.public
import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.config.wgconfig import (
    InvalidBoxKey,
    WgQuickError,
    WireGuardConfig,
    build_config,
    format_endpoint,
    parse_wg_quick,
    render_wg_quick,
    rfc3339_utc,
    seal_new_keypair,
)
from phoenix.crypto.wireguard import encode_key, parse_key, public_key

NODE_KEY = bytes(range(32))
NODE_KEY_B64 = base64.b64encode(NODE_KEY).decode()
EXPIRES = datetime(2025, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)


def config(
    *, node_address: str = "203.0.113.7", sealed_private_key: str | None = None
) -> WireGuardConfig:
    return build_config(
        ipv4="10.64.0.2",
        ipv6="fd00:64::2",
        dns=["10.64.0.1", "fd00:64::1"],
        node_public_key=NODE_KEY,
        node_address=node_address,
        node_port=51820,
        expires_at=EXPIRES,
        sealed_private_key=sealed_private_key,
    )


def test_json_with_a_client_key_has_every_field_but_no_private_key() -> None:
    assert msgspec.json.decode(msgspec.json.encode(config())) == {
        "interface": {
            "addresses": ["10.64.0.2/32", "fd00:64::2/128"],
            "dns": ["10.64.0.1", "fd00:64::1"],
        },
        "peer": {
            "public_key": NODE_KEY_B64,
            "endpoint": "203.0.113.7:51820",
            "allowed_ips": ["0.0.0.0/0", "::/0"],
            "persistent_keepalive": 25,
        },
        "expires_at": "2025-01-31T12:00:00Z",
    }


def test_json_with_a_server_key_carries_the_sealed_private_key() -> None:
    sealed = seal_new_keypair(nacl.public.PrivateKey.generate().public_key.encode())
    shape = msgspec.json.decode(
        msgspec.json.encode(config(sealed_private_key=sealed.sealed_private_key_b64))
    )
    assert shape["interface"]["private_key"] == sealed.sealed_private_key_b64
    assert set(shape) == {"interface", "peer", "expires_at"}


@pytest.mark.parametrize("sealed", [None, "c2VhbGVk"], ids=["client key", "server key"])
def test_json_decodes_back_to_the_same_config(sealed: str | None) -> None:
    original = config(sealed_private_key=sealed)
    assert msgspec.json.decode(msgspec.json.encode(original), type=WireGuardConfig) == original


def test_wg_quick_with_a_client_key_round_trips_and_asks_for_the_clients_key() -> None:
    original = config()
    text = render_wg_quick(original)
    assert parse_wg_quick(text) == original
    lines = text.splitlines()
    assert "# PrivateKey = <your private key>" in lines
    assert not any(line.startswith("PrivateKey") for line in lines)
    assert "Address = 10.64.0.2/32, fd00:64::2/128" in lines
    assert "DNS = 10.64.0.1, fd00:64::1" in lines
    assert lines[lines.index("[Peer]") + 1 :] == [
        f"PublicKey = {NODE_KEY_B64}",
        "Endpoint = 203.0.113.7:51820",
        "AllowedIPs = 0.0.0.0/0, ::/0",
        "PersistentKeepalive = 25",
    ]


def test_wg_quick_with_a_server_key_round_trips_with_the_sealed_key_in_a_comment() -> None:
    sealed = seal_new_keypair(nacl.public.PrivateKey.generate().public_key.encode())
    original = config(sealed_private_key=sealed.sealed_private_key_b64)
    text = render_wg_quick(original)
    assert parse_wg_quick(text) == original
    assert f"# SealedPrivateKey = {sealed.sealed_private_key_b64}" in text.splitlines()
    assert not any(line.startswith("PrivateKey") for line in text.splitlines())


def test_an_ipv6_endpoint_is_written_in_brackets() -> None:
    ipv6 = config(node_address="2001:db8::7")
    assert ipv6.peer.endpoint == "[2001:db8::7]:51820"
    assert "Endpoint = [2001:db8::7]:51820" in render_wg_quick(ipv6).splitlines()
    assert parse_wg_quick(render_wg_quick(ipv6)) == ipv6


@pytest.mark.parametrize(
    ("address", "endpoint"),
    [
        ("198.51.100.1", "198.51.100.1:51820"),
        (ipaddress.ip_address("198.51.100.1"), "198.51.100.1:51820"),
        (ipaddress.ip_interface("198.51.100.1/32"), "198.51.100.1:51820"),  # psycopg INET
        ("2001:DB8:0:0::1", "[2001:db8::1]:51820"),
        (ipaddress.ip_address("2001:db8::1"), "[2001:db8::1]:51820"),
    ],
)
def test_endpoints_take_strings_and_ipaddress_objects(
    address: str | ipaddress.IPv4Address, endpoint: str
) -> None:
    assert format_endpoint(address, 51820) == endpoint


@given(st.ip_addresses())
def test_an_address_as_text_is_read_as_ipaddress_reads_and_prints_it(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    for text in {str(address), address.exploded, address.exploded.upper()}:
        expected = f"[{address}]:1" if address.version == 6 else f"{address}:1"
        assert format_endpoint(text, 1) == expected


@given(st.text(alphabet="0123456789abcdefABCDEF.:/% x", max_size=45))
def test_any_text_is_taken_or_refused_as_ipaddress_takes_or_refuses_it(text: str) -> None:
    try:
        address = ipaddress.ip_interface(text).ip
    except ValueError:
        with pytest.raises(ValueError, match=r"."):
            format_endpoint(text, 1)
    else:
        expected = f"[{address}]:1" if address.version == 6 else f"{address}:1"
        assert format_endpoint(text, 1) == expected


@pytest.mark.parametrize(("address", "port"), [("example.com", 51820), ("10.0.0.1", 0)])
def test_an_endpoint_is_an_ip_address_and_a_valid_port(address: str, port: int) -> None:
    with pytest.raises(ValueError, match=r"."):
        format_endpoint(address, port)


def test_client_addresses_must_be_of_their_family() -> None:
    with pytest.raises(ValueError, match="IPv4"):
        build_config(
            ipv4="fd00::2",
            ipv6="10.0.0.2",
            dns=[],
            node_public_key=NODE_KEY,
            node_address="203.0.113.7",
            node_port=51820,
            expires_at=EXPIRES,
        )


def test_expiry_is_rfc3339_utc_in_whole_seconds() -> None:
    berlin = timezone(timedelta(hours=1))
    assert rfc3339_utc(datetime(2025, 1, 31, 13, 0, 0, 999999, tzinfo=berlin)) == (
        "2025-01-31T12:00:00Z"
    )
    with pytest.raises(ValueError, match="timezone"):
        rfc3339_utc(datetime(2025, 1, 31, 12, 0, 0))


def test_the_sealed_key_opens_to_the_private_half_of_the_returned_public_key() -> None:
    box = nacl.public.PrivateKey.generate()
    pair = seal_new_keypair(box.public_key.encode())
    assert base64.b64decode(pair.sealed_private_key_b64) == pair.sealed_private_key
    opened = nacl.public.SealedBox(box).decrypt(pair.sealed_private_key)
    private = parse_key(opened.decode("ascii"))
    assert public_key(private) == pair.public_key
    assert len(pair.public_key) == 32


def test_another_box_key_cannot_open_the_sealed_key() -> None:
    pair = seal_new_keypair(nacl.public.PrivateKey.generate().public_key.encode())
    stranger = nacl.public.PrivateKey.generate()
    with pytest.raises(nacl.exceptions.CryptoError):
        nacl.public.SealedBox(stranger).decrypt(pair.sealed_private_key)


def test_every_call_makes_a_new_pair() -> None:
    box_key = nacl.public.PrivateKey.generate().public_key.encode()
    assert seal_new_keypair(box_key).public_key != seal_new_keypair(box_key).public_key


def test_the_plaintext_private_key_is_neither_returned_nor_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    box = nacl.public.PrivateKey.generate()
    with caplog.at_level(logging.DEBUG):
        pair = seal_new_keypair(box.public_key.encode())
    plaintext_b64 = nacl.public.SealedBox(box).decrypt(pair.sealed_private_key)
    raw = base64.b64decode(plaintext_b64)
    assert pair._fields == ("public_key", "sealed_private_key", "sealed_private_key_b64")
    text = plaintext_b64.decode()
    for secret in (raw, plaintext_b64):
        assert secret not in pair.public_key
        assert secret not in pair.sealed_private_key
    assert text not in pair.sealed_private_key_b64
    for shown in (repr(pair), caplog.text):
        assert text not in shown
        assert repr(raw) not in shown
        assert raw.hex() not in shown
    assert encode_key(raw) not in render_wg_quick(config(sealed_private_key=pair[2]))


@pytest.mark.parametrize(
    "box_key",
    [b"\x01" * 31, b"\x01" * 33, bytes(32)],
    ids=["short", "long", "low-order point"],
)
def test_a_box_key_that_cannot_be_sealed_to_is_refused_without_a_trace_of_the_key(
    box_key: bytes,
) -> None:
    with pytest.raises(InvalidBoxKey) as caught:
        seal_new_keypair(box_key)
    # No chained library exception, whose frames would hold the plaintext as a local.
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


def test_a_hand_written_file_with_repeated_and_lowercase_keys_parses() -> None:
    text = f"""
    # ExpiresAt = 2025-01-31T12:00:00Z
    [interface]
    address = 10.64.0.2/32
    Address = fd00:64::2/128  # inline comments are comments
    [PEER]
    PublicKey = {NODE_KEY_B64}
    Endpoint = [2001:db8::7]:51820
    AllowedIPs = 0.0.0.0/0
    AllowedIPs = ::/0
    PersistentKeepalive = 25
    """
    parsed = parse_wg_quick(text)
    assert parsed.interface.addresses == ["10.64.0.2/32", "fd00:64::2/128"]
    assert parsed.interface.dns == []
    assert parsed.interface.private_key is None
    assert parsed.peer.allowed_ips == ["0.0.0.0/0", "::/0"]
    assert parsed.peer.endpoint == "[2001:db8::7]:51820"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (("Address = ", "PrivateKey = eA==\nAddress = "), "plaintext private key"),
        (("[Peer]", "[Peer]\nPresharedKey = x"), "a key we never write"),
        (("[Peer]", "[Peer]\nEndpoint = 192.0.2.1:1\n[Peer]"), "a second peer"),
        (("# ExpiresAt", "# Expires"), "no expiry"),
        (("PersistentKeepalive = 25", "PersistentKeepalive = off"), "keepalive not a number"),
        ((f"PublicKey = {NODE_KEY_B64}", "PublicKey = AAAA"), "public key of the wrong size"),
        (("[Interface]", "[Wireguard]"), "unknown section"),
        (("[Peer]\n", ""), "no peer section"),
    ],
)
def test_files_we_would_not_write_are_refused(change: tuple[str, str], why: str) -> None:
    text = render_wg_quick(config()).replace(*change, 1)
    with pytest.raises(WgQuickError):
        parse_wg_quick(text)

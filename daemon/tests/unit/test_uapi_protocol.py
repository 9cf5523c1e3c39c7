"""The UAPI text protocol: what a plan sends, and how a ``get=1`` dump is read."""

from __future__ import annotations

import base64

from phoenix_node.peers import Plan, normalise_ips
from phoenix_node.wireguard.uapi import parse_get, plan_lines, to_hex

KEY = base64.b64encode(bytes(range(32))).decode()
OTHER = base64.b64encode(bytes(range(1, 33))).decode()


def test_a_plan_sends_removals_updates_and_adds_and_never_replace_peers() -> None:
    plan = Plan(
        add={KEY: normalise_ips(["10.0.0.2/32"])},
        update={OTHER: normalise_ips(["10.0.0.3/32"])},
        remove=frozenset({OTHER}),
    )
    lines = plan_lines(plan)
    assert lines == [
        f"public_key={to_hex(OTHER)}",
        "remove=true",
        f"public_key={to_hex(OTHER)}",
        "update_only=true",
        "replace_allowed_ips=true",
        "allowed_ip=10.0.0.3/32",
        f"public_key={to_hex(KEY)}",
        "replace_allowed_ips=true",
        "allowed_ip=10.0.0.2/32",
    ]
    assert not any(line.startswith("replace_peers") for line in lines)


def test_an_empty_plan_sends_nothing() -> None:
    assert plan_lines(Plan()) == []


def test_a_get_dump_is_read_into_peers() -> None:
    dump = (
        "private_key=" + "ab" * 32 + "\nlisten_port=51820\n"
        f"public_key={to_hex(KEY)}\nendpoint=192.0.2.7:40000\nlast_handshake_time_sec=1700000000\n"
        "last_handshake_time_nsec=500000000\ntx_bytes=10\nrx_bytes=20\n"
        "persistent_keepalive_interval=0\nallowed_ip=10.0.0.2/32\nallowed_ip=fd00::2/128\n"
        f"public_key={to_hex(OTHER)}\nlast_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"
        "allowed_ip=10.0.0.3/32\n"
    )
    device, peers = parse_get(dump)
    assert device["listen_port"] == "51820"
    assert peers[KEY].allowed_ips == {"10.0.0.2/32", "fd00::2/128"}
    assert peers[KEY].endpoint == "192.0.2.7:40000"
    assert peers[KEY].last_handshake == 1700000000.5
    assert (peers[KEY].rx_bytes, peers[KEY].tx_bytes) == (20, 10)
    assert peers[OTHER].endpoint is None
    assert peers[OTHER].last_handshake == 0.0

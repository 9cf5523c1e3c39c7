"""The peer diff and the mass-removal guard: pure functions over peer sets."""

from __future__ import annotations

from phoenix_node.peers import (
    MassRemovalGuard,
    PeerState,
    active_keys,
    diff,
    normalise_ips,
    stale_endpoints,
)

A, B, C, D = "A" * 43 + "=", "B" * 43 + "=", "C" * 43 + "=", "D" * 43 + "="


def ips(n: int) -> frozenset[str]:
    return normalise_ips([f"10.0.0.{n}/32", f"fd00::{n:x}/128"])


def test_diff_adds_updates_and_removes_only_the_difference() -> None:
    actual = {A: ips(2), B: ips(3), C: ips(4)}
    desired = {A: ips(2), B: ips(9), D: ips(5)}
    plan = diff(desired, actual)
    assert plan.add == {D: ips(5)}
    assert plan.update == {B: ips(9)}
    assert plan.remove == {C}


def test_the_same_state_twice_is_an_empty_plan() -> None:
    peers = {A: ips(2), B: ips(3)}
    assert diff(peers, dict(peers)).empty


def test_addresses_are_compared_in_the_form_the_interface_reports() -> None:
    assert normalise_ips(["fd00:0::0002/128", "10.0.0.2/32"]) == {"fd00::2/128", "10.0.0.2/32"}


def test_active_means_a_handshake_within_the_window() -> None:
    peers = [
        PeerState(A, ips(2), last_handshake=1000.0),
        PeerState(B, ips(3), last_handshake=700.0),
        PeerState(C, ips(4)),
    ]
    assert active_keys(peers, now=1100.0, window=180) == {A}


def test_only_idle_peers_with_a_remembered_endpoint_are_forgotten() -> None:
    peers = [
        PeerState(A, ips(2), endpoint="192.0.2.7:4000", last_handshake=1000.0),
        PeerState(B, ips(3), endpoint="192.0.2.8:4000", last_handshake=800.0),
        PeerState(C, ips(4), endpoint=None, last_handshake=0.0),
    ]
    assert [p.public_key for p in stale_endpoints(peers, now=1100.0, idle=180)] == [B]


def test_a_snapshot_removing_most_active_peers_is_held_until_a_second_one_confirms() -> None:
    guard = MassRemovalGuard(0.5)
    active = {A, B, C}
    wipe = diff({}, {A: ips(2), B: ips(3), C: ips(4)})
    assert guard.review(wipe, active) == "hold"
    assert guard.review(wipe, active) == "confirmed"


def test_a_held_snapshot_is_forgotten_when_the_next_one_looks_normal() -> None:
    guard = MassRemovalGuard(0.5)
    active = {A, B, C}
    assert guard.review(diff({}, {A: ips(2), B: ips(3), C: ips(4)}), active) == "hold"
    one_gone = diff({A: ips(2), B: ips(3)}, {A: ips(2), B: ips(3), C: ips(4)})
    assert guard.review(one_gone, active) == "apply"
    assert guard.review(diff({}, {A: ips(2), B: ips(3), C: ips(4)}), active) == "hold"


def test_removing_idle_peers_or_up_to_the_share_is_not_held() -> None:
    guard = MassRemovalGuard(0.5)
    actual = {A: ips(2), B: ips(3), C: ips(4), D: ips(5)}
    assert guard.review(diff({}, actual), active=set()) == "apply"
    assert guard.review(diff({A: ips(2), B: ips(3)}, actual), active={A, B, C, D}) == "apply"
    assert guard.review(diff({A: ips(2)}, actual), active={A, B, C, D}) == "hold"


def test_a_plan_applied_to_the_old_set_gives_the_new_one() -> None:
    old = {A: ips(2), B: ips(3), C: ips(4)}
    new = {A: ips(2), B: ips(9), D: ips(5)}
    plan = diff(new, old)
    plan.apply_to(old)
    assert old == new

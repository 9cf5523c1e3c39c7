"""The deploy files: ruleset and kernel tuning rendered from one source; the service files keep
the key directory across a stop or restart."""

from __future__ import annotations

from pathlib import Path

from phoenix_node import sysctl
from phoenix_node.firewall import FirewallSpec, render, render_conf

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_the_shipped_nftables_conf_is_the_rendered_default() -> None:
    assert (DEPLOY / "nftables.conf").read_text() == render_conf(FirewallSpec())


def test_the_shipped_sysctl_conf_is_the_rendered_default() -> None:
    assert (DEPLOY / "sysctl.d" / "99-phoenix.conf").read_text() == sysctl.render_conf()


def test_ssh_can_be_limited_to_a_bastion_and_extra_ports_blocked() -> None:
    text = render(FirewallSpec(ssh_cidrs=("198.51.100.0/24",), blocked_tcp_ports=(25, 465)))
    assert "ip saddr { 198.51.100.0/24 } tcp dport 22 accept" in text
    assert "tcp dport { 25, 465 } reject" in text


def test_ipv6_masquerade_only_when_configured() -> None:
    assert "nfproto ipv6 masquerade" not in render(FirewallSpec())
    assert "nfproto ipv6 masquerade" in render(FirewallSpec(ipv6_egress=True))


def test_sysctl_reports_what_cannot_be_set_without_failing(tmp_path: Path) -> None:
    (tmp_path / "net/ipv4").mkdir(parents=True)
    (tmp_path / "net/ipv4/ip_forward").write_text("0\n")
    (tmp_path / "net/ipv4/tcp_congestion_control").mkdir()  # unreadable as a value
    values = {
        "net.ipv4.ip_forward": "1",
        "net.ipv4.tcp_congestion_control": "bbr",
        "net.core.default_qdisc": "fq",
    }
    report = sysctl.apply(values, root=tmp_path)
    assert report.applied == {"net.ipv4.ip_forward": "1"}
    assert (tmp_path / "net/ipv4/ip_forward").read_text() == "1\n"
    assert report.failed["net.core.default_qdisc"] == "not available here"
    assert "net.ipv4.tcp_congestion_control" in report.failed


def test_the_systemd_unit_keeps_the_key_directory_across_stop_and_restart() -> None:
    lines = (DEPLOY / "systemd" / "phoenix-node.service").read_text().splitlines()
    directives = [line.partition("=") for line in lines if "=" in line and line[0] != "#"]
    seen = {key: value for key, _, value in directives}
    assert seen["RuntimeDirectory"] == "phoenix-node"
    assert seen["RuntimeDirectoryPreserve"] == "yes"
    assert not {"ExecStop", "ExecStopPost"} & set(seen)


def test_stopping_the_openrc_service_leaves_the_key_directory_alone() -> None:
    script = (DEPLOY / "openrc" / "phoenix-node").read_text()
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "stop" in line]  # no stop(), stop_pre(), stop_post()
    assert not [line for line in code if "umount" in line or "rm " in line or "forget" in line]
    # Mounted only when it is not yet: a remount on restart would hide the running node's key.
    assert "mountpoint -q /run/phoenix-node || mount -t tmpfs" in script

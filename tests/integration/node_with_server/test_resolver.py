"""The node's resolvers live and die with the daemon: real Unbound, started by the daemon in its
namespace, one per resolver address; restarted when it exits, gone when the daemon is."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from node_harness.processes import running
from node_harness.wireguard import wait_until
from phoenix_node.resolver import Options, render, zone_lines
from tests.conftest import require
from tests.integration.node_with_server.conftest import Daemon

pytestmark = pytest.mark.needs_root


def resolvers(daemon: Daemon) -> dict[str, int]:
    """Variant → pid of each Unbound running for this daemon (found by its config path)."""
    found = {}
    marker = str(daemon.key_dir / "unbound")
    for pid, argv in running("unbound"):
        config = next((arg for arg in argv if marker in arg), None)
        if config is not None:
            found[Path(config).parent.name] = pid
    return found


def test_each_resolver_is_restarted_when_it_dies_and_dies_with_the_daemon(daemon: Daemon) -> None:
    daemon.wait_for("resolver_ready", count=2)
    running = resolvers(daemon)
    assert set(running) == {"none", "base"}
    os.kill(running["base"], signal.SIGKILL)
    exited = daemon.wait_for("resolver_exited")
    assert exited["variant"] == "base"
    daemon.wait_for("resolver_ready", count=3)
    again = resolvers(daemon)
    assert again["none"] == running["none"]  # the other one never blinked
    assert again["base"] != running["base"]
    assert daemon.process is not None
    daemon.process.kill()  # no chance to stop its children
    daemon.process.wait()
    daemon.process = None
    wait_until(lambda: not resolvers(daemon), timeout=15)


def test_a_stopped_daemon_leaves_no_resolver_behind(daemon: Daemon) -> None:
    daemon.wait_for("resolver_ready", count=2)
    assert len(resolvers(daemon)) == 2
    assert daemon.stop() == 0
    assert not resolvers(daemon)  # stopped before the daemon exited


@pytest.mark.parametrize(
    "options",
    [
        Options(),
        Options(
            upstreams=("9.9.9.9@853#dns.quad9.net", "149.112.112.112@853#dns.quad9.net"),
            upstream_tls=True,
        ),
        Options(upstreams=("169.254.169.253",), ipv6=True),
    ],
    ids=["recursive", "dns-over-tls", "vpc-forwarder"],
)
def test_every_rendered_configuration_is_one_unbound_accepts(
    options: Options, tmp_path: Path
) -> None:
    require("unbound-checkconf", shutil.which("unbound-checkconf") is not None, "Debian unbound")
    zones = tmp_path / "zones.conf"
    zones.write_text(zone_lines(frozenset({"doubleclick.net", "ads.example.com"})))
    config = tmp_path / "unbound.conf"
    config.write_text(
        render(options, tmp_path, "100.64.0.2", ("10.64.0.0/20", "fd10:7068:6f65::/64"), zones)
    )
    checked = subprocess.run(
        ["unbound-checkconf", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

"""The node's firewall driven in a process of its own, as the daemon drives it.

``ip netns exec <ns> python -m node_harness.firewall_run <scenario>`` runs one scenario in the
namespace and prints what it saw as JSON; the tests assert on it. libnftables is loaded here and
not in the test process: loaded into a pytest process that had run most of the suite (chDB's
embedded engine among it, whose own signal handlers replace faulthandler's), it took that
process down with SIGABRT twice, without a trace. The daemon, too, is a process of its own.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from phoenix_node.agent import Agent
from phoenix_node.api import ApiClient
from phoenix_node.firewall import Firewall, FirewallError, FirewallSpec
from phoenix_node.identity import IdentityStore
from phoenix_node.keys import KeyStore, generate
from phoenix_node.metrics import Metrics
from phoenix_node.settings import load
from phoenix_node.wireguard import make_backend


def applied_twice() -> dict[str, Any]:
    """Apply one ruleset twice: the listings after each, and whether it is intact."""
    firewall = Firewall(FirewallSpec(wg_interface="wg0", ssh_cidrs=("198.51.100.0/24",)))
    firewall.apply()
    first = firewall.listing()
    firewall.apply()
    return {"first": first, "second": firewall.listing(), "intact": firewall.intact()}


def _refused(action: Callable[[], None]) -> str | None:
    try:
        action()
    except FirewallError as error:
        return str(error)
    return None


def broken_after_good() -> dict[str, Any]:
    """Apply a good ruleset, then a broken one checked (apply) and unchecked (swap)."""
    firewall = Firewall(FirewallSpec())
    firewall.apply()
    before = firewall.listing()
    broken = firewall.ruleset.replace("masquerade", "masquerade to :99999")
    return {
        "before": before,
        "apply_refused": _refused(lambda: firewall.apply(broken)),
        "swap_refused": _refused(lambda: firewall.swap(broken)),
        "after": firewall.listing(),
        "intact": firewall.intact(),
    }


def agent_stamps(interface: str) -> dict[str, Any]:
    """The agent applies the ruleset at start, re-applies it when it vanished, then fails to
    (a broken ruleset): the firewall timestamp after each, between the times read around it."""
    return asyncio.run(_agent_stamps(interface))


async def _agent_stamps(interface: str) -> dict[str, Any]:
    settings = load(
        {
            "PHOENIX_NODE_API_URL": "http://127.0.0.1:9",  # never called: no registration
            "PHOENIX_NODE_ENROLLMENT_KEY": "pnk_unused",
            "PHOENIX_NODE_REGION": "de-fra",
            "PHOENIX_NODE_PUBLIC_IP": "192.0.2.1",
            "PHOENIX_NODE_WG_INTERFACE": interface,
            "PHOENIX_NODE_WG_BACKEND": "uapi",
            "PHOENIX_NODE_SYSCTL": "false",
        }
    )
    metrics = Metrics()
    firewall = Firewall(FirewallSpec(wg_interface=interface))
    api = ApiClient(settings.api_url, 1, 0)

    def stamp() -> float | None:
        return metrics.registry.get_sample_value("phoenix_node_firewall_applied_timestamp_seconds")

    async def timed(step: Awaitable[None]) -> dict[str, float | None]:
        before = time.time()
        await step
        return {"before": before, "stamp": stamp(), "after": time.time()}

    def drop_table() -> None:
        subprocess.run(["nft", "delete", "table", "inet", "phoenix"], check=True, timeout=30)

    with tempfile.TemporaryDirectory() as keys:
        identity = IdentityStore(KeyStore(Path(keys), allow_disk=True))
        backend = make_backend("uapi", interface)
        agent = Agent(settings, generate(), backend, api, metrics, identity, firewall)
        seen: dict[str, Any] = {"unset": stamp()}
        seen["prepare"] = await timed(agent.prepare())
        drop_table()
        seen["repair"] = await timed(agent.repair())
        firewall.ruleset = firewall.ruleset.replace("masquerade", "masquerade to :99999")
        drop_table()
        seen["refused"] = await timed(agent.repair())
        seen["intact"] = firewall.intact()
    seen["recreated"] = metrics.registry.get_sample_value(
        "phoenix_node_recreated_total", {"what": "firewall"}
    )
    await api.aclose()
    return seen


SCENARIOS: dict[str, Callable[..., dict[str, Any]]] = {
    "applied-twice": applied_twice,
    "broken-after-good": broken_after_good,
    "agent-stamps": agent_stamps,  # argument: the WireGuard interface to make
}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]](*sys.argv[2:])))

"""The node's firewall driven in a process of its own, as the daemon drives it.

``ip netns exec <ns> python -m node_harness.firewall_run <scenario>`` runs one scenario in the
namespace and prints what it saw as JSON; the tests assert on it. libnftables is loaded here and
not in the test process: loaded into a pytest process that had run most of the suite (chDB's
embedded engine among it, whose own signal handlers replace faulthandler's), it took that
process down with SIGABRT twice, without a trace. The daemon, too, is a process of its own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from phoenix_node.firewall import Firewall, FirewallError, FirewallSpec


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


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "applied-twice": applied_twice,
    "broken-after-good": broken_after_good,
}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]]()))

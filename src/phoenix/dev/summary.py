"""What `phoenix dev up` prints once every role answers: where each runs, and how to try it."""

from __future__ import annotations

from collections.abc import Sequence

from phoenix.app import DEFAULT_OPS_PORTS, DEFAULT_PORTS, ROLES
from phoenix.dev.emulator import DEFAULT_PROJECT, EMULATOR_PORT
from phoenix.dev.local_node import NODE_LOCATION, NODE_NETNS, NODE_SIDE
from phoenix.production import DEV_OPERATOR_TOKEN


def print_summary(
    why_no_node: str | None, notes: Sequence[str] = (), prometheus: str | None = None
) -> None:
    lines = ["", "Phoenix is running (Ctrl-C stops everything):"]
    lines += [f"  {note}" for note in notes]
    for role in ROLES:
        url, ops = (f"http://127.0.0.1:{port[role]}" for port in (DEFAULT_PORTS, DEFAULT_OPS_PORTS))
        lines.append(f"  {role:<10} {url}  ops {ops}  (/readyz /metrics /schema/openapi.json)")
    lines.append(
        f"  firebase   http://127.0.0.1:{EMULATOR_PORT}  (Auth emulator, project {DEFAULT_PROJECT})"
    )
    lines.append(
        f"  blocklist  http://127.0.0.1:{DEFAULT_PORTS['worker']}/blocklist/base/manifest.json"
    )
    lines.append(
        "  grant a user a subscription: PHOENIX_ENV=dev .venv/bin/phoenix dev grant --email E"
    )
    lines.append(
        f"  analytics page: http://operator:{DEV_OPERATOR_TOKEN}@127.0.0.1:"
        f"{DEFAULT_PORTS['analytics']}/reports"
    )
    if prometheus is not None:
        lines.append(f"  prometheus {prometheus}")
    if why_no_node is None:
        lines.append(
            f"  exit node  {NODE_SIDE}:51820 in netns {NODE_NETNS}, location {NODE_LOCATION} "
            f"(log: .dev/phoenix-node.log)"
        )
    else:
        lines.append(f"  exit node  none: {why_no_node}")
    lines += [
        "",
        "Try it as a user (another terminal):",
        "  .venv/bin/phoenix-client signup --email you@example.com",
        "  PHOENIX_ENV=dev .venv/bin/phoenix dev grant --email you@example.com",
        "  .venv/bin/phoenix-client tokens fetch --count 10",
        "  .venv/bin/phoenix-client locations",
        f"  .venv/bin/phoenix-client connect --location {NODE_LOCATION} --wg-quick phoenix.conf",
        "  .venv/bin/phoenix-client blocklist check doubleclick.net   (published within seconds)",
    ]
    print("\n".join(lines), flush=True)

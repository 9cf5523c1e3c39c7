"""`phoenix-node` command line: the composition root of the daemon.

``phoenix-node [--config FILE] [--allow-disk-keys]`` runs the agent; ``phoenix-node forget``
overwrites and removes the node's key and stored registration (the node's identity: stopping the
daemon keeps both, so a restart is the same node); ``phoenix-node render nftables|sysctl`` prints
the deploy files. A bad setting or an unsafe key directory stops the daemon with exit code 2 and
one line naming the problem (no traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from phoenix_node import __version__

if TYPE_CHECKING:
    from phoenix_node.blocklist import Fetcher
    from phoenix_node.firewall import Firewall
    from phoenix_node.identity import IdentityStore
    from phoenix_node.keys import KeyPair
    from phoenix_node.resolver import Resolvers
    from phoenix_node.settings import NodeSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="phoenix-node", description="The Phoenix exit-node daemon."
    )
    parser.add_argument("--version", action="version", version=f"phoenix-node {__version__}")
    parser.add_argument("--config", type=Path, help="env file of PHOENIX_NODE_* settings")
    parser.add_argument(
        "--allow-disk-keys",
        action="store_true",
        help="development only: allow a key directory that is not tmpfs/ramfs",
    )
    parser.add_argument(
        "command",
        nargs="*",
        default=["run"],
        help="run (default), or: forget | render nftables | render sysctl",
    )
    args = parser.parse_args(argv)
    match args.command:
        case ["run"]:
            return run(args.config, args.allow_disk_keys)
        case ["forget"]:
            return forget(args.config, args.allow_disk_keys)
        case ["render", "nftables"]:
            from phoenix_node.firewall import FirewallSpec, render_conf
            from phoenix_node.settings import SettingsError, firewall_values

            try:  # the ruleset's settings only, from --config and the environment
                values = firewall_values(os.environ, args.config)
            except SettingsError as error:
                return fail(str(error))
            sys.stdout.write(render_conf(FirewallSpec(**values)))
            return 0
        case ["render", "sysctl"]:
            from phoenix_node.sysctl import render_conf as render_sysctl

            sys.stdout.write(render_sysctl())
            return 0
    parser.error(f"unknown command: {' '.join(args.command)}")
    return 2


def fail(message: str) -> int:
    print(f"phoenix-node: {message}", file=sys.stderr)
    return 2


def run(config: Path | None, allow_disk_keys: bool) -> int:
    from phoenix_node import logs
    from phoenix_node.firewall import Firewall, FirewallError, FirewallSpec
    from phoenix_node.identity import IdentityStore
    from phoenix_node.keys import KeyStore, KeyStoreError
    from phoenix_node.settings import SettingsError, load

    try:
        settings = load(os.environ, config)
    except SettingsError as error:
        return fail(str(error))
    logs.setup(settings.log_level)
    store = KeyStore(Path(settings.key_dir), allow_disk=allow_disk_keys)
    try:
        kind = store.check_directory()
        keys, made = store.load_or_create()
    except (KeyStoreError, OSError) as error:
        return fail(f"key directory: {error}")
    logs.event(
        "keys_ready",
        made=made,
        directory=settings.key_dir,
        filesystem=kind,
        public_key=keys.public_base64,
    )
    firewall = None
    if settings.firewall:
        try:
            firewall = Firewall(
                FirewallSpec(
                    wg_interface=settings.wg_interface,
                    egress_interface=settings.egress_interface,
                    listen_port=settings.listen_port,
                    ssh_cidrs=settings.ssh_cidrs,
                    blocked_tcp_ports=settings.blocked_tcp_ports,
                    ipv6_egress=settings.ipv6_egress,
                    private_networks=settings.private_networks,
                    own_addresses=(settings.public_ip,),
                )
            )
            firewall.check()
        except FirewallError as error:
            return fail(f"firewall: {error}")
    # Neither a failure nor a signal erases the key or the registration: a restarted daemon is
    # the same node (same key, same id, no enrollment). `phoenix-node forget` drops them.
    asyncio.run(_serve(settings, keys, IdentityStore(store), firewall))
    return 0


def forget(config: Path | None, allow_disk_keys: bool) -> int:
    """Overwrite and remove the private key and the stored registration; one JSON line."""
    from phoenix_node import logs
    from phoenix_node.identity import IdentityStore
    from phoenix_node.keys import KeyStore, KeyStoreError
    from phoenix_node.settings import SettingsError, key_dir

    try:
        directory = key_dir(os.environ, config)
    except SettingsError as error:
        return fail(str(error))
    logs.setup("info")
    store = KeyStore(directory, allow_disk=allow_disk_keys)
    try:
        if directory.exists():
            # The daemon's own rule: a directory on disk is ours only with --allow-disk-keys.
            store.check_directory()
        registration = IdentityStore(store).forget()
        key = store.erase()
    except (KeyStoreError, OSError) as error:
        return fail(f"key directory: {error}")
    logs.event("identity_forgotten", directory=str(directory), key=key, registration=registration)
    return 0


async def _serve(
    settings: NodeSettings, keys: KeyPair, identity: IdentityStore, firewall: Firewall | None
) -> None:
    from phoenix_node.agent import Agent
    from phoenix_node.api import ApiClient
    from phoenix_node.logs import event
    from phoenix_node.metrics import Metrics
    from phoenix_node.wireguard import make_backend

    metrics = Metrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port)
    api = ApiClient(settings.api_url, settings.request_timeout_seconds, settings.poll_wait_seconds)
    backend = make_backend(settings.wg_backend, settings.wg_interface, settings.wireguard_go)
    resolvers, blocklists = _dns(settings)
    agent = Agent(settings, keys, backend, api, metrics, identity, firewall, resolvers, blocklists)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop(signum: int) -> None:
        event("stopping", signal=signal.Signals(signum).name)
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    work = asyncio.create_task(agent.run(), name="agent")
    waiter = asyncio.create_task(stopping.wait(), name="signals")
    try:
        done, _ = await asyncio.wait({work, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            work.result()  # an unexpected end of the agent is an error
    finally:
        for task in (work, waiter):
            task.cancel()
        await asyncio.gather(work, waiter, return_exceptions=True)
        await api.aclose()
        if resolvers is not None:
            await resolvers.close()
        if blocklists is not None:
            await blocklists.aclose()


def _dns(settings: NodeSettings) -> tuple[Resolvers | None, Fetcher | None]:
    """The node's resolvers and, when a publication and its key are set, its blocklists."""
    import base64

    from phoenix_node.blocklist import Fetcher
    from phoenix_node.resolver import Options, Resolvers

    if not settings.dns:
        return None, None
    options = Options(
        unbound=settings.unbound,
        unbound_control=settings.unbound_control,
        upstreams=settings.dns_upstreams,
        upstream_tls=settings.dns_upstream_tls,
        ipv6=settings.ipv6_egress,
        trust_anchor=settings.dns_trust_anchor,
    )
    resolvers = Resolvers(options, Path(settings.key_dir) / "unbound")
    if settings.blocklist_url is None or settings.blocklist_key is None:
        return resolvers, None
    key = base64.b64decode(settings.blocklist_key)
    return resolvers, Fetcher(settings.blocklist_url, key, settings.request_timeout_seconds)

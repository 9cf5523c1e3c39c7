"""The node's resolvers: one Unbound per tunnel resolver address, supervised by the daemon.

A client picks DNS blocking per connection by the resolver address its config names: the
node's gateway address answers unfiltered, each blocking variant has an address of its own. One
Unbound process per address keeps that mapping trivial and each process's configuration the
same template; a blocklist is a set of ``always_nxdomain`` local zones of that one process.

Privacy: no query or reply logging, no log file at all, no statistics; Unbound listens on the
tunnel addresses only and answers only the node's own client pools. Changes to a running list go
through ``unbound-control local_zones`` / ``local_zones_remove`` (no restart, so no in-flight
query is dropped and the cache stays); the zones file is rewritten too, so a restarted Unbound
comes back with the current list.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from phoenix_node.logs import event

UNFILTERED: Final = "none"
PORT: Final = 53
READY_SECONDS: Final = 15.0
PR_SET_PDEATHSIG: Final = 1
# Answers that point into private space are dropped (DNS rebinding): a public name must not lead
# a client's browser to the node's VPC, even though the firewall would refuse the connection.
PRIVATE_ANSWERS: Final = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "::ffff:0:0/96",
    "fc00::/7",
    "fe80::/10",
)


class ResolverError(Exception):
    """Unbound refused a command or did not come up."""


@dataclass(frozen=True)
class Options:
    unbound: str = "unbound"
    unbound_control: str = "unbound-control"
    upstreams: tuple[str, ...] = ()
    upstream_tls: bool = False
    ipv6: bool = False
    tls_bundle: str = "/etc/ssl/certs/ca-certificates.crt"
    trust_anchor: str = ""  # a root trust anchor file: with it, answers are DNSSEC-validated


def render(
    options: Options, directory: Path, address: str, clients: Iterable[str], zones: Path
) -> str:
    """One instance's ``unbound.conf``."""
    server = [
        f"interface: {address}@{PORT}",
        "ip-freebind: yes",  # the address may come up on the interface a moment later
        "access-control: 0.0.0.0/0 refuse",
        "access-control: ::/0 refuse",
        *(f"access-control: {network} allow" for network in clients),
        'username: ""',
        'chroot: ""',
        f'directory: "{directory}"',
        'pidfile: ""',
        "do-daemonize: no",
        "use-syslog: no",
        'logfile: ""',
        "verbosity: 0",
        "log-queries: no",
        "log-replies: no",
        "log-servfail: no",
        "log-local-actions: no",
        "statistics-interval: 0",
        "hide-identity: yes",
        "hide-version: yes",
        "qname-minimisation: yes",
        "num-threads: 1",
        f"do-ip6: {'yes' if options.ipv6 else 'no'}",
        *(f"private-address: {network}" for network in PRIVATE_ANSWERS),
    ]
    if not options.upstreams:
        # Recursing itself, Unbound follows whatever delegation a name's owner publishes: a
        # client's own domain pointing its name servers at the VPC or the metadata address
        # must not make the node send queries there. (Forwarders are the operator's choice.)
        server += [f"do-not-query-address: {n}" for n in PRIVATE_ANSWERS if n != "127.0.0.0/8"]
    if options.trust_anchor:
        server += [
            'module-config: "validator iterator"',
            f'trust-anchor-file: "{options.trust_anchor}"',
        ]
    else:
        server.append('module-config: "iterator"')
    if options.upstream_tls:
        server.append(f'tls-cert-bundle: "{options.tls_bundle}"')
    server.append(f'include: "{zones}"')
    text = "server:\n" + "".join(f"\t{line}\n" for line in server)
    text += (
        "remote-control:\n"
        "\tcontrol-enable: yes\n"
        f'\tcontrol-interface: "{directory / "control.sock"}"\n'
        "\tcontrol-use-cert: no\n"
    )
    if options.upstreams:
        text += 'forward-zone:\n\tname: "."\n'
        text += "".join(f"\tforward-addr: {upstream}\n" for upstream in options.upstreams)
        text += f"\tforward-tls-upstream: {'yes' if options.upstream_tls else 'no'}\n"
    return text


def without_covered(names: frozenset[str]) -> frozenset[str]:
    """``names`` less those under another listed name: an ``always_nxdomain`` zone covers its
    subdomains already, and every zone makes each query's tree walk longer."""
    kept = set()
    for name in names:
        labels = name.split(".")
        if not any(".".join(labels[i:]) in names for i in range(1, len(labels))):
            kept.add(name)
    return frozenset(kept)


def zone_lines(names: Iterable[str]) -> str:
    """``local-zone`` lines: each name and everything under it answers NXDOMAIN."""
    return "".join(f'local-zone: "{name}." always_nxdomain\n' for name in sorted(names))


def _prepared(names: frozenset[str]) -> tuple[frozenset[str], str]:
    kept = without_covered(names)
    return kept, zone_lines(kept)


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _die_with_parent() -> None:
    # A daemon killed without a chance to stop its children must not leave Unbound behind.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Unbound:
    """One supervised Unbound on one address, with the names it blocks."""

    def __init__(
        self,
        options: Options,
        directory: Path,
        variant: str,
        address: str,
        clients: tuple[str, ...],
    ) -> None:
        self.options = options
        self.directory = directory
        self.variant = variant
        self.address = address
        self.clients = clients
        self.config = directory / "unbound.conf"
        self.zones = directory / "zones.conf"
        self.names: frozenset[str] = frozenset()
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A file left by an earlier instance would block names this one does not know about.
        _write(self.zones, zone_lines(self.names))
        _write(
            self.config,
            render(self.options, self.directory, self.address, self.clients, self.zones),
        )
        self._task = asyncio.create_task(self._supervise(), name=f"unbound-{self.variant}")

    async def _supervise(self) -> None:
        delay = 0.5
        while True:
            started = asyncio.get_running_loop().time()
            try:
                async with self._lock:  # the zones file Unbound reads holds exactly these
                    started_with = self.names
                    self.process = await asyncio.create_subprocess_exec(
                        self.options.unbound, "-d", "-p", "-c", str(self.config),
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.PIPE,
                        preexec_fn=_die_with_parent,
                    )  # fmt: skip
            except OSError as error:
                event("resolver_failed", logging.ERROR, variant=self.variant, reason=str(error))
            else:
                await self._until_ready(started_with)
                _, err = await self.process.communicate()
                self.ready.clear()
                event(
                    "resolver_exited",
                    logging.ERROR,
                    variant=self.variant,
                    code=self.process.returncode,
                    reason=err.decode(errors="replace").strip()[-300:],
                )
            if asyncio.get_running_loop().time() - started > 60:
                delay = 0.5
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _until_ready(self, started_with: frozenset[str]) -> None:
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_SECONDS
        while self.process.returncode is None and loop.time() < deadline:
            try:
                await self.control("status")
            except ResolverError:
                await asyncio.sleep(0.05)
                continue
            async with self._lock:
                # A list loaded while Unbound was starting is not in the file it read.
                try:
                    await self._change(started_with, self.names)
                except ResolverError as error:
                    event("resolver_failed", logging.ERROR, variant=self.variant, reason=str(error))
                    self.process.terminate()  # start again from the zones file
                    return
                self.ready.set()
            event(
                "resolver_ready",
                variant=self.variant,
                address=self.address,
                blocked=len(self.names),
            )
            return

    async def control(self, *arguments: str, stdin: bytes | None = None) -> str:
        process = await asyncio.create_subprocess_exec(
            self.options.unbound_control, "-c", str(self.config), *arguments,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate(stdin)
        text = out.decode(errors="replace")
        if process.returncode != 0 or text.startswith("error"):
            raise ResolverError(f"unbound-control {arguments[0]}: {text.strip()[:300]}")
        return text

    async def load(self, names: frozenset[str]) -> tuple[int, int]:
        """Block ``names`` (and all under them) from now on; the zones (added, removed).
        Unbound keeps serving."""
        # 200,000 names take a few hundred ms: off the loop, which heartbeats and syncs peers.
        names, text = await asyncio.to_thread(_prepared, names)
        async with self._lock:
            _write(self.zones, text)
            previous, self.names = self.names, names
            if self.ready.is_set():
                try:
                    await self._change(previous, names)
                except ResolverError as error:
                    # Unknown state: restart it from the zones file, which holds ``names``.
                    event("resolver_failed", logging.ERROR, variant=self.variant, reason=str(error))
                    if self.process is not None and self.process.returncode is None:
                        self.process.terminate()
            return len(names - previous), len(previous - names)

    async def _change(self, old: frozenset[str], new: frozenset[str]) -> None:
        removed, added = old - new, new - old
        if removed:
            await self.control(
                "local_zones_remove", stdin="".join(f"{n}.\n" for n in removed).encode()
            )
        if added:
            await self.control(
                "local_zones", stdin="".join(f"{n}. always_nxdomain\n" for n in added).encode()
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.ready.clear()


class Resolvers:
    """The node's Unbound instances, one per ``variant → address`` of its registration."""

    def __init__(self, options: Options, directory: Path) -> None:
        self.options = options
        self.directory = directory
        self.instances: dict[str, Unbound] = {}

    async def configure(self, addresses: dict[str, str], clients: tuple[str, ...]) -> set[str]:
        """Run exactly one Unbound per variant at its address, others stopped; the variants
        whose Unbound is new (its blocklist is empty until loaded)."""
        started = set()
        for variant, instance in list(self.instances.items()):
            if addresses.get(variant) != instance.address or instance.clients != clients:
                await instance.stop()
                del self.instances[variant]
        for variant, address in addresses.items():
            if variant not in self.instances:
                instance = Unbound(
                    self.options, self.directory / variant, variant, address, clients
                )
                instance.start()
                self.instances[variant] = instance
                started.add(variant)
        return started

    async def load(self, variant: str, names: frozenset[str]) -> tuple[int, int] | None:
        instance = self.instances.get(variant)
        return None if instance is None else await instance.load(names)

    async def close(self) -> None:
        for instance in self.instances.values():
            await instance.stop()
        self.instances.clear()

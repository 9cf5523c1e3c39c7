"""The daemon's one loop: prepare → register → (heartbeat ∥ peer sync) → again when forgotten.

Named steps, explicit backoff, and a log line whenever a step changes state:

- **prepare**: kernel tuning, the WireGuard interface with the node's key, the ruleset; the peers
  already on the interface are kept (a restarted daemon never blinks a tunnel). A registration
  stored next to the key (``node.json``) is taken as it is: its addresses go on the interface and
  the loop goes straight to heartbeat and sync, so a restart needs no API and keeps the node id.
- **register** (no stored registration, or the API forgot us): a fresh challenge, the proof that
  we hold the key, then the registration — with the node's own credential when it has one, else
  the enrollment key, else only the AWS attestation — with exponential backoff and full jitter
  until the API accepts us; the answer is stored.
- **heartbeat** (every ``heartbeat_seconds``): repair what vanished (interface, ruleset), forget
  endpoints of idle peers, send aggregates, hear the drain flag.
- **dns**: one Unbound per resolver address the registration names (the node's tunnel address
  unfiltered, each blocking variant at its own address), and the ruleset admits port 53 there
  only; the blocklists are fetched, verified and loaded every ``blocklist_refresh_seconds``.
- **sync**: long-poll the peer feed from the last applied revision; apply changes as they
  arrive, a snapshot as a whole (through the mass-removal guard). The API being down changes
  nothing on the interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import random
import time
from typing import Any, Final

from phoenix_node import attestation, host, links
from phoenix_node.api import (
    ApiClient,
    ApiRefused,
    ApiUnavailable,
    Heartbeat,
    NodeForgotten,
    PeerFeed,
    Proof,
    RegisterRequest,
    Registration,
)
from phoenix_node.attestation import AttestationError
from phoenix_node.blocklist import BlocklistError, Fetcher
from phoenix_node.firewall import Firewall, FirewallError, FirewallSpec
from phoenix_node.identity import IdentityStore, StaleIdentity
from phoenix_node.keys import KeyPair, KeyStoreError
from phoenix_node.logs import event
from phoenix_node.metrics import Metrics
from phoenix_node.peers import (
    MassRemovalGuard,
    PeerSet,
    PeerState,
    active_keys,
    diff,
    normalise_ips,
    stale_endpoints,
)
from phoenix_node.proof import Claims, ProofError, prove
from phoenix_node.resolver import UNFILTERED, ResolverError, Resolvers
from phoenix_node.settings import NodeSettings
from phoenix_node.sysctl import apply as apply_sysctl
from phoenix_node.wireguard import Backend, InterfaceMissing, WireGuardError

SNAPSHOT: Final = -1  # ``since`` that asks the API for a full snapshot
# Each pause between heartbeats is the interval give or take this fraction, at random: nodes
# answered together (after an API stall, or started together) would otherwise beat together
# for ever, and every herd queues the rest of the API's work behind it.
HEARTBEAT_JITTER: Final = 0.1


def heartbeat_pause(interval: float, draw: float | None = None) -> float:
    """The pause before the next heartbeat; ``draw`` in [0, 1) (a fresh random one when None)."""
    if draw is None:
        draw = random.random()  # noqa: S311 - spreading load, not a secret
    return interval * (1 + HEARTBEAT_JITTER * (2 * draw - 1))


class Backoff:
    """Exponential backoff with full jitter: 0..min(cap, base * 2**attempt) seconds."""

    def __init__(self, base: float = 0.5, cap: float = 60.0) -> None:
        self.base, self.cap, self.attempt = base, cap, 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret

    def reset(self) -> None:
        self.attempt = 0


class Agent:
    def __init__(
        self,
        settings: NodeSettings,
        keys: KeyPair,
        backend: Backend,
        api: ApiClient,
        metrics: Metrics,
        identity: IdentityStore,
        firewall: Firewall | None = None,
        resolvers: Resolvers | None = None,
        blocklists: Fetcher | None = None,
    ) -> None:
        self.resolvers = resolvers
        self.blocklists = blocklists
        self.settings = settings
        self.keys = keys
        self.identity = identity
        self.backend = backend
        self.api = api
        self.metrics = metrics
        self.firewall = firewall
        self.guard = MassRemovalGuard(settings.mass_removal_share)
        self.guard_holding = False  # a snapshot is held back now (metrics and heartbeats)
        self.applied: PeerSet = {}  # what the interface holds, as far as we wrote or read it
        self.desired: PeerSet = {}
        self.revision = SNAPSHOT  # the feed's cursor: SNAPSHOT asks for a whole snapshot
        # The revision the interface holds (kept while the cursor is back at SNAPSHOT after a
        # hold or a forgotten node) and the newest one config has named: apart, the sync lag.
        self.applied_revision = 0
        self.announced_revision = 0
        self.registration: Registration | None = None
        self.draining = False
        self.states: dict[str, str] = {}
        self.wake_blocklists = asyncio.Event()
        self._blocklist_task: asyncio.Task[None] | None = None

    # --- logging of state changes ----------------------------------------------------------

    def state(self, step: str, value: str, level: int = logging.INFO, **fields: Any) -> None:
        if self.states.get(step) != value:
            self.states[step] = value
            event(f"{step}_{value}", level, **fields)

    # --- the loop --------------------------------------------------------------------------

    async def run(self) -> None:
        self.registration = self.restore()
        await self.prepare()  # puts a restored registration's addresses on the interface
        if self.registration is not None:
            await self.serve_dns(self.registration)
        if self.blocklists is not None and self.resolvers is not None:
            self._blocklist_task = asyncio.create_task(self.blocklist_loop(), name="blocklists")
        try:
            await self.serve()
        finally:
            if self._blocklist_task is not None:
                self._blocklist_task.cancel()

    async def serve(self) -> None:
        """Register when needed, then heartbeat and sync until the API forgets us; again."""
        forgotten = False
        while True:
            if self.registration is None or forgotten:
                self.registration = await self.register()
                await self.configure_addresses(self.registration)
                await self.serve_dns(self.registration)
                forgotten = False
                self.states.pop("node", None)
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self.heartbeat_loop(), name="heartbeat")
                    group.create_task(self.sync_loop(), name="sync")
            except* NodeForgotten as errors:
                if self.draining:
                    # A draining node the API no longer knows has been terminated by the
                    # reaper: registering again would bring it back into selection.
                    self.state("node", "terminated", reason=str(errors.exceptions[0]))
                    await asyncio.Event().wait()
                self.state("node", "forgotten", logging.WARNING, reason=str(errors.exceptions[0]))
                self.revision = SNAPSHOT
                forgotten = True  # register again, first with the credential we hold

    async def prepare(self) -> None:
        if self.settings.sysctl:
            report = apply_sysctl()
            event("sysctl_applied", applied=len(report.applied), failed=report.failed)
        await self.ensure_interface()
        if self.firewall is not None:
            self.apply_firewall()
            event("firewall_applied", table="inet phoenix")

    def apply_firewall(self, spec: FirewallSpec | None = None) -> None:
        """Apply the ruleset (that of ``spec`` when given); on FirewallError the old one stays
        and the timestamp keeps saying when a ruleset last went in."""
        assert self.firewall is not None
        if spec is None:
            self.firewall.apply()
        else:
            self.firewall.reconfigure(spec)
        self.metrics.firewall_applied.set_to_current_time()

    async def ensure_interface(self) -> None:
        created = await self.backend.ensure(self.keys.private, self.settings.listen_port)
        current = {key: peer.allowed_ips for key, peer in (await self.backend.peers()).items()}
        self.applied = current
        if created:
            self.metrics.recreated.labels("interface").inc()
        if not self.desired:
            self.desired = dict(current)  # keep what is there until the API says otherwise
        self.state(
            "interface",
            "created" if created else "ready",
            interface=self.backend.interface,
            backend=self.backend.name,
            peers=len(current),
        )
        if self.registration is not None:
            await self.configure_addresses(self.registration)
        await self.reconcile()

    async def configure_addresses(self, registration: Registration) -> None:
        addresses = links.node_addresses(registration.ipv4_pool, registration.ipv6_pool)
        added = await links.configure(self.backend.interface, addresses)
        if added:
            event("interface_addresses_added", interface=self.backend.interface, added=added)

    # --- DNS ----------------------------------------------------------------------------------

    def resolver_addresses(self, registration: Registration) -> dict[str, str]:
        """Variant → resolver address: the tunnel address unfiltered, then the variants'."""
        gateway = links.node_addresses(registration.ipv4_pool, registration.ipv6_pool)[0]
        addresses = {UNFILTERED: str(gateway.ip)}
        for variant, address in registration.resolvers.items():
            if not tunnel_only(address):
                event("resolver_refused", logging.ERROR, variant=variant, address=address)
                continue
            addresses[variant] = address
        return addresses

    async def serve_dns(self, registration: Registration) -> None:
        """Resolver addresses on the interface, one Unbound on each, port 53 open there only."""
        addresses = self.resolver_addresses(registration)
        variants = [
            ipaddress.ip_interface(f"{address}/32")
            for variant, address in addresses.items()
            if variant != UNFILTERED
        ]
        added = await links.configure(self.backend.interface, variants)
        if added:
            event("interface_addresses_added", interface=self.backend.interface, added=added)
        if self.firewall is not None:
            spec = dataclasses.replace(self.firewall.spec, resolvers=tuple(addresses.values()))
            if spec != self.firewall.spec:
                self.apply_firewall(spec)
                event("firewall_applied", table="inet phoenix", resolvers=len(addresses))
        if self.resolvers is not None:
            clients = (registration.ipv4_pool, registration.ipv6_pool)
            started = await self.resolvers.configure(addresses, clients)
            if self.blocklists is not None:
                for variant in started:
                    self.blocklists.forget(variant)
            self.wake_blocklists.set()

    async def blocklist_loop(self) -> None:
        assert self.blocklists is not None
        assert self.resolvers is not None
        while True:
            for variant in [v for v in self.resolvers.instances if v != UNFILTERED]:
                await self.refresh_blocklist(variant)
            self.wake_blocklists.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self.wake_blocklists.wait(), self.settings.blocklist_refresh_seconds
                )

    async def refresh_blocklist(self, variant: str) -> None:
        assert self.blocklists is not None
        assert self.resolvers is not None
        try:
            fetched = await self.blocklists.fetch(variant)
            if fetched is None:
                return
            changed = await self.resolvers.load(variant, fetched.names)
        except (BlocklistError, ResolverError, OSError) as error:
            self.state(f"blocklist_{variant}", "refused", logging.WARNING, reason=str(error))
            return
        if changed is not None:
            self.states.pop(f"blocklist_{variant}", None)
            event(
                "blocklist_loaded",
                variant=variant,
                names=len(fetched.names),
                added=changed[0],
                removed=changed[1],
                sha256=fetched.digest,
            )

    def restore(self) -> Registration | None:
        """The registration stored next to this key, if any (logged as ``register_restored``)."""
        try:
            registration = self.identity.load(self.keys.public_base64)
        except (StaleIdentity, OSError) as error:
            event("identity_discarded", logging.WARNING, reason=str(error))
            return None
        if registration is not None:
            self.state("register", "restored", **_shown(registration))
            self.announce(registration.revision, registered=True)
        return registration

    async def register(self) -> Registration:
        """Register until accepted; the answer is stored next to the key."""
        backoff = Backoff(cap=self.settings.backoff_max_seconds)
        while True:
            self.state("register", "trying")
            credential = self.registration.node_credential if self.registration else None
            try:
                registration = await self.register_once(credential)
            except ApiRefused as error:
                if error.status == 401 and credential is not None:
                    # Our credential is not (or no longer) known: drop it, so the next attempt
                    # enrolls afresh with the enrollment key or the attestation.
                    self.drop_identity(reason=str(error))
                    self.states.pop("register", None)
                    continue
                await self.wait_after("register_failed", error, logging.ERROR, backoff)
                continue
            except (ApiUnavailable, ProofError) as error:
                await self.wait_after("register_failed", error, logging.WARNING, backoff)
                continue
            except AttestationError as error:
                await self.wait_after("attestation_failed", error, logging.WARNING, backoff)
                continue
            self.metrics.api_up.set(1)
            via = "credential" if credential else self.enrollment_kind()
            try:  # before "register done", so whoever reads that line finds the identity kept
                self.identity.save(self.keys.public_base64, registration)
            except (KeyStoreError, OSError) as error:
                # The node serves anyway; only a restart would have to register again.
                event("identity_not_saved", logging.ERROR, reason=str(error))
            self.state("register", "done", via=via, **_shown(registration))
            self.announce(registration.revision, registered=True)
            return registration

    async def register_once(self, credential: str | None) -> Registration:
        """One attempt: (attestation), a fresh challenge, the proof, the registration."""
        settings = self.settings
        attested = None
        if settings.attestation == "aws":
            # Before the challenge: the nonce's minute is not spent waiting for IMDS.
            attested = await attestation.fetch(settings.imds_url)
        challenge = await self.api.challenge()
        claims = Claims(settings.region, settings.public_ip, settings.listen_port)
        mac = prove(
            self.keys.private, self.keys.public, challenge.nonce, challenge.server_key, claims
        )
        request = RegisterRequest(
            public_ip=settings.public_ip,
            public_key=self.keys.public_base64,
            location=settings.region,
            listen_port=settings.listen_port,
            capacity=settings.capacity,
            proof=Proof(nonce=challenge.nonce, mac=mac),
            attestation=attested,
        )
        return await self.api.register(credential or settings.enrollment_key, request)

    def enrollment_kind(self) -> str:
        return "enrollment_key" if self.settings.enrollment_key else "attestation"

    def drop_identity(self, reason: str) -> None:
        self.registration = None
        try:
            self.identity.forget()
        except OSError as error:
            event("identity_not_removed", logging.ERROR, reason=str(error))
        event("credential_refused", logging.WARNING, reason=reason, next=self.enrollment_kind())

    async def wait_after(self, name: str, error: Exception, level: int, backoff: Backoff) -> None:
        delay = backoff.next_delay()
        if isinstance(error, ApiUnavailable) and error.retry_after is not None:
            delay = max(delay, error.retry_after)  # 429: the API says when to come back
        if isinstance(error, ApiUnavailable):
            self.metrics.api_up.set(0)
        event(name, level, reason=str(error), retry_in=round(delay, 2))
        self.states.pop("register", None)
        await asyncio.sleep(delay)

    # --- heartbeat -------------------------------------------------------------------------

    async def heartbeat_loop(self) -> None:
        host.cpu_percent()  # prime the CPU counter
        while True:
            await self.heartbeat_once()
            await asyncio.sleep(heartbeat_pause(self.settings.heartbeat_seconds))

    async def heartbeat_once(self) -> None:
        assert self.registration is not None
        await self.repair()
        peers = await self.read_peers()
        now = time.time()
        await self.forget_idle_endpoints(peers, now)
        active = active_keys(peers.values(), now, self.settings.active_seconds)
        rx, tx = links.counters(self.backend.interface)
        beat = Heartbeat(
            peers=len(peers),
            active_peers=len(active),
            rx_bytes=rx,
            tx_bytes=tx,
            cpu=host.cpu_percent(),
            load1=min(host.load1(), 10_000.0),
            mem_used=host.memory_percent(),
            applied_revision=max(self.revision, 0),
            guard_held=self.guard_holding,
        )
        self.metrics.peers.set(len(peers))
        self.metrics.active_peers.set(len(active))
        self.metrics.recent_handshakes.set(len(active))
        try:
            answer = await self.api.heartbeat(self.registration, beat)
        except (ApiUnavailable, ApiRefused) as error:
            self.metrics.api_up.set(0)
            self.state("heartbeat", "failing", logging.WARNING, reason=str(error))
            return
        self.metrics.api_up.set(1)
        self.state("heartbeat", "ok")
        self.announce(answer.revision)
        if answer.drain != self.draining:
            self.draining = answer.drain
            self.metrics.draining.set(int(answer.drain))
            self.state("drain", "on" if answer.drain else "off", active_peers=len(active))

    async def read_peers(self) -> dict[str, PeerState]:
        try:
            return await self.backend.peers()
        except InterfaceMissing:
            await self.repair()
            return await self.backend.peers()

    async def repair(self) -> None:
        """Recreate the interface or the ruleset when either has vanished or changed."""
        if not await self.backend.exists():
            self.state("interface", "missing", logging.WARNING, interface=self.backend.interface)
            await self.ensure_interface()
        if self.firewall is not None and not self.firewall.intact():
            self.state("firewall", "missing", logging.WARNING)
            try:
                self.apply_firewall()
            except FirewallError as error:
                self.state("firewall", "failing", logging.ERROR, reason=str(error))
                return
            self.metrics.recreated.labels("firewall").inc()
            self.state("firewall", "applied")

    async def forget_idle_endpoints(self, peers: dict[str, PeerState], now: float) -> None:
        stale = {
            peer.public_key: peer.allowed_ips
            for peer in stale_endpoints(peers.values(), now, self.settings.idle_endpoint_seconds)
        }
        if stale:
            await self.backend.forget_endpoints(stale)
            event("idle_endpoints_forgotten", peers=len(stale))

    # --- peer sync -------------------------------------------------------------------------

    async def sync_loop(self) -> None:
        assert self.registration is not None
        backoff = Backoff(cap=self.settings.backoff_max_seconds)
        while True:
            try:
                feed = await self.api.peers(self.registration, self.revision)
            except ApiUnavailable as error:
                delay = backoff.next_delay()
                self.metrics.api_up.set(0)
                self.state(
                    "sync",
                    "api_unreachable",
                    logging.WARNING,
                    reason=str(error),
                    peers_kept=len(self.applied),
                )
                await asyncio.sleep(delay)
                continue
            except ApiRefused as error:
                self.state("sync", "refused", logging.ERROR, reason=str(error))
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            self.metrics.api_up.set(1)
            self.state("sync", "live")
            await self.take(feed)

    async def take(self, feed: PeerFeed) -> None:
        """Apply one answer of the peer feed."""
        self.announce(feed.revision)  # a held snapshot names it too: the node is behind it
        if feed.snapshot:
            desired = {p.public_key: normalise_ips(p.allowed_ips) for p in feed.peers or []}
            plan = diff(desired, self.applied)
            active = active_keys(
                (await self.read_peers()).values(), time.time(), self.settings.active_seconds
            )
            self.metrics.recent_handshakes.set(len(active))
            verdict = self.guard.review(plan, active)
            if verdict == "hold":
                self.metrics.held.inc()
                self.set_guard_holding(True)
                event(
                    "mass_removal_held",
                    logging.WARNING,
                    would_remove=len(plan.remove),
                    active_peers=len(active),
                    revision=feed.revision,
                    confirm_in=self.settings.mass_removal_confirm_seconds,
                )
                self.revision = SNAPSHOT  # the next answer is the second opinion
                await asyncio.sleep(self.settings.mass_removal_confirm_seconds)
                return
            if verdict == "confirmed":
                event("mass_removal_confirmed", logging.WARNING, removing=len(plan.remove))
            self.desired = desired
        else:
            for change in feed.changes:
                if change.op == "add":
                    self.desired[change.public_key] = normalise_ips(change.allowed_ips)
                else:
                    self.desired.pop(change.public_key, None)
        await self.reconcile()
        if feed.snapshot or feed.changes:
            event(
                "peers_synced",
                logging.DEBUG,
                revision=feed.revision,
                snapshot=feed.snapshot,
                peers=len(self.applied),
            )
        if feed.snapshot:
            self.set_guard_holding(False)
        self.revision = self.applied_revision = feed.revision
        self.metrics.revision.set(feed.revision)
        self.publish_lag()

    def set_guard_holding(self, holding: bool) -> None:
        self.guard_holding = holding
        self.metrics.guard_held.set(int(holding))

    def announce(self, revision: int, *, registered: bool = False) -> None:
        """Config named ``revision`` as the node's latest; update the lag behind it.

        A registration starts the count afresh: a node registered anew may be a new node whose
        revisions start again from 0, and an older, higher number would be a lag forever."""
        if registered:
            self.announced_revision = revision
        else:
            self.announced_revision = max(self.announced_revision, revision)
        self.publish_lag()

    def publish_lag(self) -> None:
        self.metrics.sync_lag.set(max(self.announced_revision - self.applied_revision, 0))

    async def reconcile(self) -> None:
        """Write the difference between desired and applied peers (nothing when equal)."""
        plan = diff(self.desired, self.applied)
        if plan.empty:
            return
        try:
            await self.backend.apply(plan)
        except InterfaceMissing:
            self.state("interface", "missing", logging.WARNING, interface=self.backend.interface)
            await self.ensure_interface()  # recreates, reads it back, reconciles again
            return
        except WireGuardError as error:
            # Unknown state: read the interface back so the next diff starts from the truth.
            event("peer_apply_failed", logging.ERROR, reason=str(error))
            self.applied = {k: p.allowed_ips for k, p in (await self.backend.peers()).items()}
            return
        for op, count in plan.summary().items():
            if count:
                self.metrics.peer_changes.labels(op).inc(count)
        plan.apply_to(self.applied)
        self.metrics.peers.set(len(self.applied))


def tunnel_only(address: str) -> bool:
    """Whether ``address`` may be a resolver address on the tunnel: IPv4, not a public address
    (the node would capture clients' traffic to it), not loopback, link-local (the metadata
    service), multicast or unspecified."""
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return not (
        parsed.is_global
        or parsed.is_loopback
        or parsed.is_link_local
        or parsed.is_multicast
        or parsed.is_unspecified
        or parsed.is_reserved
    )


def _shown(registration: Registration) -> dict[str, Any]:
    """What a log line may say about a registration: never the credential."""
    return {
        "node_id": str(registration.node_id),
        "status": registration.status,
        "ipv4_pool": registration.ipv4_pool,
        "ipv6_pool": registration.ipv6_pool,
    }

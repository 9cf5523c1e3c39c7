"""The node's resolver: queries through its Unbound holding 200,000 blocked names, against the
same Unbound holding none, and what the names cost in memory and load time.

Everything runs in a network namespace of the benchmark's own, on its loopback (127.0.0.0/8),
and every Unbound is :class:`phoenix_node.resolver.Unbound` with the daemon's ``render``
configuration and a zones file of ``zone_lines``, started, supervised and loaded by that class:

- **the test authority** (127.0.0.1): answers every queried name from ``local-data`` (TTL one
  hour, addresses of RFC 2544's benchmarking range) — the Internet's part, without it.
- **the resolvers under test** forward to it (``Options(upstreams=...)``): one holds no names
  (127.0.0.2), one 200,000 blocked names (127.0.0.3) shaped like a hosts list's
  (:func:`blocked_names`), read from the zones file ``Unbound.start`` writes — as when the
  supervisor restarts it. The one line added to the node's configuration is
  ``do-not-query-localhost: no``, without which Unbound will not forward to 127.0.0.1.
- **the query mix** (``dnsperf``): :data:`QUERIED` distinct names of the same shape,
  :data:`QUERIED_BLOCKED` of them on the blocklist, shuffled, each asked as often as the others
  (a uniform mix: lookups go all over the tree, the worst case for its memory; real traffic
  repeats a few names). One pass through them warms each resolver's cache, so the rounds
  measure what a node does most: a lookup in the local zones, then an answer from the cache (a
  blocked name is answered NXDOMAIN by its local zone; with no names it is a cache hit too);
  answers are checked (NOERROR, and NXDOMAIN for exactly the blocked share) and cache misses
  during the rounds counted. ``dnsperf`` runs :data:`CLIENTS` clients with no rate limit for
  :data:`SECONDS` s per round; rounds alternate between the two resolvers, :data:`ROUNDS` each,
  and the medians are kept. Unbound (one thread, as rendered) runs on one CPU and ``dnsperf`` on
  another when there are two.

Two figures of throughput: the queries/s ``dnsperf`` saw, and the queries answered per second of
Unbound's own CPU time (``/proc/<pid>/stat``) — what one busy core of it serves. The first
depends on how much of its core Unbound got while other work ran on a shared machine (the row
says how busy it was); the second does not, and the goal is on it.

Memory is the Unbound process's VmRSS with the names, after the load and after the rounds.
The times are until ``unbound-control status`` answers (the daemon's readiness check) from a
start with the 200,000-name zones file, against the same start with an empty one; an update of
:data:`UPDATE` names on the running resolver (``Unbound.load``: the zones file rewritten, then
``unbound-control local_zones``); and, as when a node's list arrives after its Unbound is up,
all 200,000 names through ``unbound-control local_zones``.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Final

import msgspec

from bench.node import rss_bytes
from bench.report import Goal, Result
from bench.servers import Placement, placement
from node_harness.netns import Netns
from phoenix_node.resolver import Options, Unbound

BLOCKED: Final = 200_000
QUERIED: Final = 10_000
QUERIED_BLOCKED: Final = 1_000
UPDATE: Final = 1_000
ROUNDS: Final = 8
SECONDS: Final = 5
CLIENTS: Final = 4
STARTS: Final = 3
SEED: Final = 19
CLIENTS_NETWORK: Final = ("127.0.0.0/8",)
AUTHORITY: Final = "127.0.0.1"
UNFILTERED: Final = "127.0.0.2"
BLOCKING: Final = "127.0.0.3"
FIRST_LOAD: Final = "127.0.0.4"
ANSWERS: Final = "198.18"  # RFC 2544's benchmarking range: not a private answer Unbound drops
TTL: Final = 3600
WORDS: Final = (
    "adserver",
    "tracking",
    "pixel",
    "metrics",
    "clicks",
    "beacon",
    "banners",
    "analytics",
)
HOSTS: Final = ("ad", "ads", "www", "s", "t", "px", "img", "static", "cdn", "log", "e")
REGIONS: Final = ("eu", "us", "ap", "g", "l", "fls")
DOMAINS: Final = 5_000
TLDS: Final = ("com", "net", "org", "io", "info", "biz", "co", "de", "ru", "xyz")
READY_SECONDS: Final = 120.0
QPS: Final = re.compile(r"Queries per second:\s+([\d.]+)")
COMPLETED: Final = re.compile(r"Queries completed:\s+(\d+)")
LOST: Final = re.compile(r"Queries lost:\s+(\d+)")
CODES: Final = re.compile(r"Response codes:\s+(.*)")
CODE: Final = re.compile(r"(\w+) (\d+) \(")


def blocked_names(count: int, seed: int) -> list[str]:
    """Distinct names shaped like a hosts blocklist's, seeded.

    Like StevenBlack's list: mostly three labels, some two or four, several names under one
    registered domain (``<word><k>.<tld>``), 19.6 characters on average (a sample of the
    list: 19.2).
    """
    rng = random.Random(seed)
    names: dict[str, None] = {}
    while len(names) < count:
        name = f"{rng.choice(WORDS)}{rng.randrange(DOMAINS)}.{rng.choice(TLDS)}"
        depth = rng.random()
        if depth > 0.15:
            name = f"{rng.choice(HOSTS)}{rng.randrange(100)}.{name}"
        if depth > 0.85:
            name = f"{rng.choice(REGIONS)}.{name}"
        names[name] = None
    return list(names)


def query_names(blocked: Sequence[str], others: Iterable[str], seed: int) -> list[str]:
    """:data:`QUERIED` names, shuffled: :data:`QUERIED_BLOCKED` from ``blocked``, the rest
    from ``others`` (names of the same shape, so lookups go all over the tree) that no blocked
    name covers."""
    rng = random.Random(seed)
    listed = set(blocked)
    allowed = [name for name in others if not covered(name, listed)]
    names = allowed[: QUERIED - QUERIED_BLOCKED] + rng.sample(list(blocked), QUERIED_BLOCKED)
    if len(names) != QUERIED:
        raise RuntimeError(f"only {len(allowed)} names are not blocked")
    rng.shuffle(names)
    return names


def covered(name: str, listed: set[str]) -> bool:
    """Whether ``name`` or a domain above it is in ``listed`` (a local zone covers subdomains)."""
    labels = name.split(".")
    return any(".".join(labels[i:]) in listed for i in range(len(labels)))


def authority_zones(names: Sequence[str]) -> str:
    """The test authority's data: every name in ``names`` has an A record, nothing else exists."""
    return 'local-zone: "." static\n' + "".join(
        f'local-data: "{name}. {TTL} IN A {ANSWERS}.{n // 256 % 256}.{n % 256}"\n'
        for n, name in enumerate(names)
    )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def megabytes(pid: int) -> float:
    return rss_bytes(pid) / 2**20


class BenchUnbound(Unbound):
    """The node's Unbound with the benchmark's own lines after the files ``start`` writes.

    ``start`` writes unbound.conf and the zones file and only then schedules the process, so the
    lines are in place when Unbound reads them.
    """

    def __init__(self, directory: Path, variant: str, address: str, *, upstream: bool) -> None:
        options = Options(upstreams=(AUTHORITY,) if upstream else ())
        super().__init__(options, directory, variant, address, CLIENTS_NETWORK)
        # Unbound will not forward to 127.0.0.1 without it.
        self.server_lines = "do-not-query-localhost: no" if upstream else ""
        self.zone_data = ""

    def start(self) -> None:
        super().start()
        if self.server_lines:
            with self.config.open("a") as config:
                config.write(f"server:\n\t{self.server_lines}\n")
        if self.zone_data:
            with self.zones.open("a") as zones:
                zones.write(self.zone_data)

    @property
    def pid(self) -> int:
        assert self.process is not None
        assert self.process.returncode is None
        return self.process.pid

    async def started(self, cpus: Sequence[int]) -> float:
        """Start, pin to ``cpus``; seconds until ready (``unbound-control status`` answers)."""
        began = time.perf_counter()
        self.start()
        await asyncio.wait_for(self.ready.wait(), READY_SECONDS)
        elapsed = time.perf_counter() - began
        if cpus:
            os.sched_setaffinity(self.pid, cpus)
        return elapsed

    async def cache_misses(self) -> int:
        """Queries that were not answered from the cache or a local zone, so far."""
        lines = (await self.control("stats_noreset")).splitlines()
        return int(dict(line.split("=", 1) for line in lines)["total.num.cachemiss"])


class Run(msgspec.Struct, frozen=True):
    """One ``dnsperf`` run against one resolver."""

    qps: float
    completed: int
    lost: int
    nxdomain: float  # the share of answers that were NXDOMAIN
    noerror: float
    cpu: float = 0.0  # the resolver's CPU seconds during the run

    @property
    def per_cpu_second(self) -> float:
        return self.completed / self.cpu if self.cpu else 0.0


def parse_dnsperf(text: str) -> Run:
    found = [pattern.search(text) for pattern in (QPS, COMPLETED, LOST, CODES)]
    qps, completed, lost, codes = found
    if qps is None or completed is None or lost is None or codes is None:
        raise RuntimeError(f"unexpected dnsperf output: {text[-500:]}")
    counts = {code: int(count) for code, count in CODE.findall(codes.group(1))}
    answered = sum(counts.values())
    return Run(
        qps=float(qps.group(1)),
        completed=int(completed.group(1)),
        lost=int(lost.group(1)),
        nxdomain=counts.get("NXDOMAIN", 0) / answered if answered else 0.0,
        noerror=counts.get("NOERROR", 0) / answered if answered else 0.0,
    )


class Lab:
    """The namespace's resolvers, their files, and ``dnsperf`` against them."""

    def __init__(self, scratch: Path, cpus: Placement) -> None:
        self.scratch = scratch
        self.cpus = cpus
        self.queries = scratch / "queries.txt"
        self.resolvers: list[BenchUnbound] = []

    def _instance(self, variant: str, address: str, *, upstream: bool) -> BenchUnbound:
        directory = self.scratch / variant
        directory.mkdir(mode=0o700)
        instance = BenchUnbound(directory, variant, address, upstream=upstream)
        self.resolvers.append(instance)
        return instance

    async def authority(self, names: Sequence[str]) -> None:
        """The test authority, answering ``names``; they become the query mix."""
        self.queries.write_text("".join(f"{name} A\n" for name in names))
        instance = self._instance("authority", AUTHORITY, upstream=False)
        instance.zone_data = authority_zones(names)
        await instance.started(())

    async def resolver(self, variant: str, address: str, names: Iterable[str]) -> BenchUnbound:
        """A resolver that reads ``names`` from its zones file when it starts."""
        instance = self._instance(variant, address, upstream=True)
        await instance.load(frozenset(names))  # not started yet: the names start() writes
        return instance

    async def dnsperf(self, instance: BenchUnbound, *argv: str) -> Run:
        command = ["dnsperf", "-s", instance.address, "-d", str(self.queries)]
        command += ["-c", str(CLIENTS), *argv]
        if self.cpus.pinned:
            command = ["taskset", "-c", ",".join(map(str, self.cpus.load_cpus)), *command]
        before = cpu_seconds(instance.pid)
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await process.communicate()
        cpu = cpu_seconds(instance.pid) - before
        text = out.decode(errors="replace")
        if process.returncode != 0:
            raise RuntimeError(f"dnsperf failed: {text[-500:]}")
        return msgspec.structs.replace(parse_dnsperf(text), cpu=cpu)

    async def close(self) -> None:
        for instance in self.resolvers:
            await instance.stop()


def unbound_version() -> str:
    out = subprocess.run(["unbound", "-V"], capture_output=True, text=True, check=False).stdout
    return out.split()[1] if out.startswith("Version") else "?"


async def measure(scratch: Path) -> list[Result]:
    cpus = placement()
    names = blocked_names(BLOCKED + UPDATE + 2 * QUERIED, SEED)
    blocked, update = names[:BLOCKED], names[BLOCKED : BLOCKED + UPDATE]
    lab = Lab(scratch, cpus)
    try:
        await lab.authority(query_names(blocked, names[BLOCKED + UPDATE :], SEED))
        plain = await lab.resolver("none", UNFILTERED, ())
        blocking = await lab.resolver("base", BLOCKING, blocked)
        starts: dict[str, list[float]] = {"none": [], "base": []}
        for attempt in range(STARTS):
            for instance in (plain, blocking):
                if attempt:
                    await instance.stop()
                starts[instance.variant].append(await instance.started(cpus.server_cpus))
        rss_loaded, rss_plain = megabytes(blocking.pid), megabytes(plain.pid)

        for instance, share in ((plain, 0.0), (blocking, QUERIED_BLOCKED / QUERIED)):
            warm = await lab.dnsperf(instance, "-n", "1")
            if warm.lost or abs(warm.nxdomain - share) > 0.001 or warm.noerror + share < 0.999:
                raise RuntimeError(f"{instance.variant}: unexpected answers when warming: {warm}")
        misses = -sum([await plain.cache_misses(), await blocking.cache_misses()])
        rounds: dict[str, list[Run]] = {"none": [], "base": []}
        for _ in range(ROUNDS):
            for instance in (plain, blocking):
                rounds[instance.variant].append(await lab.dnsperf(instance, "-l", str(SECONDS)))
        misses += sum([await plain.cache_misses(), await blocking.cache_misses()])
        rss_after = megabytes(blocking.pid)

        began = time.perf_counter()
        await blocking.load(frozenset(blocked + update))
        updated = time.perf_counter() - began

        first = await lab.resolver("first", FIRST_LOAD, ())
        await first.started(cpus.server_cpus)
        began = time.perf_counter()
        await first.load(frozenset(blocked))
        first_load = time.perf_counter() - began
        rss_first = megabytes(first.pid)
    finally:
        await lab.close()
    return figures(
        rounds,
        rss=(rss_plain, rss_loaded, rss_after, rss_first),
        starts=starts,
        misses=misses,
        updated=updated,
        first_load=first_load,
    )


def figures(
    rounds: dict[str, list[Run]],
    *,
    rss: tuple[float, float, float, float],
    starts: dict[str, list[float]],
    misses: int,
    updated: float,
    first_load: float,
) -> list[Result]:
    def median(variant: str, figure: Callable[[Run], float]) -> float:
        return statistics.median(figure(run) for run in rounds[variant])

    busy = statistics.median(run.cpu / SECONDS for runs in rounds.values() for run in runs)
    start = {variant: statistics.median(values) for variant, values in starts.items()}
    spread = "; ".join(
        f"{variant} {min(r.qps for r in runs):,.0f}-{max(r.qps for r in runs):,.0f}"
        for variant, runs in rounds.items()
    )
    mix = (
        f"Unbound {unbound_version()}, {QUERIED:,} names of which {QUERIED_BLOCKED:,} blocked, "
        f"cache warm, dnsperf {CLIENTS} clients, median of {ROUNDS}x{SECONDS} s interleaved"
    )
    throughput: tuple[tuple[str, str, Callable[[Run], float], Goal | None], ...] = (
        (
            f"queries per Unbound CPU-second, {BLOCKED:,} names blocked ({mix})",
            "queries/CPU-s",
            lambda run: run.per_cpu_second,
            Goal.ratio_at_least(0.9),
        ),
        (
            f"dnsperf queries/s, {BLOCKED:,} names blocked (the same rounds; Unbound "
            f"{busy:.0%} busy; {misses} cache misses; range {spread})",
            "queries/s",
            lambda run: run.qps,
            None,
        ),
    )
    rss_plain, rss_loaded, rss_after, rss_first = rss
    anchor = "the same Unbound with no names"
    return [
        *(
            Result(
                figure=f"node resolver: {figure}",
                value=median("base", of),
                unit=unit,
                anchor=anchor,
                anchor_value=median("none", of),
                goal=goal,
            )
            for figure, unit, of, goal in throughput
        ),
        *(
            Result(
                figure=f"node resolver: Unbound RSS with {BLOCKED:,} blocked names, {when}",
                value=value,
                unit="MB",
                anchor=anchor,
                anchor_value=rss_plain,
                goal=Goal.value_at_most(100, "MB"),
            )
            for when, value in (("loaded at start", rss_loaded), ("after the rounds", rss_after))
        ),
        Result(
            figure=f"node resolver: start with {BLOCKED:,} names in the zones file until "
            f"ready (median of {STARTS})",
            value=start["base"],
            unit="s",
            anchor="the same start with an empty zones file",
            anchor_value=start["none"],
        ),
        Result(
            figure=f"node resolver: {UPDATE:,} names added to {BLOCKED:,} on the running "
            "Unbound (zones file + unbound-control local_zones)",
            value=updated * 1000,
            unit="ms",
        ),
        Result(
            figure=f"node resolver: {BLOCKED:,} names into a running, empty Unbound "
            f"(unbound-control local_zones; its RSS after: {rss_first:.0f} MB)",
            value=first_load,
            unit="s",
        ),
    ]


def run() -> Sequence[Result]:
    if os.geteuid() != 0:
        raise RuntimeError("the resolver benchmark makes a network namespace: run it as root")
    for tool in ("unbound", "unbound-control", "dnsperf", "ip"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is needed (make deps installs it)")
    ns = Netns("dns")
    try:
        with (
            tempfile.TemporaryDirectory(prefix="phoenix-bench-resolver-") as scratch,
            ns.entered(),
        ):
            return asyncio.run(measure(Path(scratch)))
    finally:
        ns.delete()

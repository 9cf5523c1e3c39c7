"""Token issuance over HTTP: the role against the same work done plainly (issue #24), and
against OpenSSL's RSA-2048 sign/s on every core (issue #4, now information).

The auth role's real app (:mod:`bench.issuance_app`) runs under a real ``granian`` process with
one worker per core, as ``phoenix serve`` runs it (ASGI, loop auto, multiprocess metrics, our
access log on), against a scratch UserDB on the local PostgreSQL (created, migrated, and dropped
afterwards). ``wrk`` POSTs RFC 9578 TokenRequests (``application/private-token-request``) to
``/v1/tokens`` over loopback, each request from the next of :data:`USERS` entitled users in
turn; every answer must be 200 — anything else fails the benchmark.

Three servers, the same command otherwise, each load the best of :data:`ROUNDS`:

- **stub identity**: the app gets a bench-only identity verifier
  (:class:`bench.issuance_app.StubIdentity`: fixed bearer tokens, each one fixed entitled user),
  so the figure is issuance itself: HTTP, the entitlement and quota statement, the blind
  signature. The same server is then loaded with batches (:data:`BATCH` TokenRequests per
  request, the batched-issuance media type), an informational figure in tokens/s: what the
  per-request costs come to when a client fetches several tokens at once;
- **plain** (the goal's anchor, ``>= 1.2x``): :mod:`bench.plain_issuance`, the same work with
  the same stub, the same statement and the same key, written plainly;
- **Firebase emulator check** (informational): the app's own Firebase verifier with real ID
  tokens of emulator users; firebase-admin asks the Auth emulator for the user record
  (revocation check) on every request, and the emulator (node) runs on the same cores.

Before each load, one request's answer is finalized into tokens that are verified with the key
the issuer directory lists (which must be ours), and that very request body is what wrk sends:
the load measures real issuance.

The anchor is ``openssl speed -seconds 3 -multi <cores> rsa2048`` sign/s summed over its
processes, measured in the same run. wrk shares the cores with the server (there is no third core
to give it), so every HTTP figure also carries the load generator's CPU (small: wrk hands out
prepared requests). Every request still does the whole work: the server keeps no cache, and the
same blinded message is signed anew each time. Requests rotate over many users because a single
user's requests all queue on that user's row locks (``PHOENIX_BENCH_ISSUANCE_USERS=1`` shows it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urlsplit

import msgspec

from bench import issuance_app
from bench.report import Goal, Result, format_table
from bench.scratch import scratch_database
from bench.servers import (
    BenchError,
    WrkResult,
    free_port,
    granian_command,
    running,
    wrk,
)
from phoenix.auth import users
from phoenix.auth.keys import generate, parse_bundle, render_key
from phoenix.common import database
from phoenix.crypto import batch
from phoenix.crypto.privacypass.issuance import build_token_request, finalize_token, verify_token
from phoenix.crypto.privacypass.structures import TokenChallenge, TokenResponse
from phoenix.crypto.privacypass.token_key import TokenKey
from tests.harness.firebase import FirebaseAuthEmulator

Mode = Literal["stub", "firebase", "plain"]

REPO_ROOT: Final = Path(__file__).resolve().parent.parent
PROJECT_ID: Final = "demo-phoenix"
QUOTA: Final = 1_000_000_000  # never the limit: a 429 would fail the benchmark
DIRECTORY_PATH: Final = "/.well-known/private-token-issuer-directory"
TOKENS_PATH: Final = "/v1/tokens"
REQUEST_MEDIA_TYPE: Final = "application/private-token-request"
RESPONSE_MEDIA_TYPE: Final = "application/private-token-response"
# Settings accept no Firebase configuration at all; in stub mode nothing ever connects here.
UNUSED_EMULATOR_HOST: Final = "127.0.0.1:9"

OPENSSL_SECONDS: Final = 3
WARMUP_SECONDS: Final = 1
MEASURE_SECONDS: Final = 5
WRK_THREADS: Final = 1
WRK_CONNECTIONS: Final = 16
WRK_TIMEOUT_SECONDS: Final = 5
# Issue #24: the role against the same work done plainly (bench.plain_issuance).
GOAL: Final = Goal.ratio_at_least(1.2)
ROLE_FACTORY: Final = "bench.issuance_app:create_app"
PLAIN_FACTORY: Final = "bench.plain_issuance:create_app"
ROUNDS: Final = 2  # loads per server and size, the best counted (the machine may be shared)
# Requests rotate over this many entitled users, as a service's traffic comes from many: with a
# single user every request queues on that user's quota row (see the module docstring).
USERS: Final = 32
USERS_VARIABLE: Final = "PHOENIX_BENCH_ISSUANCE_USERS"
BATCH: Final = 32  # TokenRequests per batched request: the issuer's default maximum

STUB_FIGURE: Final = "issuance over HTTP (stub identity), tokens/s"
PLAIN_FIGURE: Final = "issuance over HTTP (stub identity) against the plain issuance, tokens/s"
BATCH_FIGURE: Final = f"issuance over HTTP (stub identity, batches of {BATCH}), tokens/s"
FIREBASE_FIGURE: Final = "issuance over HTTP (Firebase emulator check), tokens/s"


def _note(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


def cores() -> int:
    return len(os.sched_getaffinity(0))


# --------------------------------------------------------------------------------------------
# Where the CPU went during a measurement (the machine may be shared with other work)

_TICKS: Final = os.sysconf("SC_CLK_TCK")


def _machine_busy_ticks() -> int:
    """Busy jiffies of all CPUs together, from /proc/stat (0 where unreadable)."""
    try:
        fields = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0
    # user nice system idle iowait irq softirq steal (guest time is within user already)
    return sum(fields[0:3]) + sum(fields[5:8])


class CpuSample(msgspec.Struct, frozen=True):
    at: float
    machine: int  # jiffies
    processes: dict[str, int]  # jiffies, by label
    children: float  # seconds


class CpuProbe:
    """Where the CPU goes, in cores: the server's processes (found by its port), our database's
    PostgreSQL backends, named process groups (the emulator), the commands this process ran and
    waited for (wrk, openssl), and everything else on the machine."""

    def __init__(
        self,
        *,
        port: int | None = None,
        database_name: str | None = None,
        groups: Mapping[str, int] | None = None,
    ) -> None:
        self._port = str(port).encode() if port is not None else None
        self._database = f" {database_name} " if database_name else None
        self._groups = dict(groups or {})

    def _find_server(self) -> None:
        if self._port is None or "server" in self._groups:
            return
        for entry in Path("/proc").iterdir():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                group = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            except (OSError, IndexError, ValueError):
                continue
            if any(b"granian" in arg for arg in argv) and self._port in argv:
                self._groups["server"] = group
                return

    def _label(self, cmdline: bytes, group: int) -> str | None:
        for label, wanted in self._groups.items():
            if group == wanted:
                return label
        database = self._database
        if database and cmdline.startswith(b"postgres: ") and database.encode() in cmdline:
            return "PostgreSQL"
        return None

    def sample(self) -> CpuSample:
        self._find_server()
        ticks: dict[str, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                label = self._label(cmdline, int(fields[2]))
                if label is not None:
                    ticks[label] = ticks.get(label, 0) + int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return CpuSample(
            at=time.monotonic(),
            machine=_machine_busy_ticks(),
            processes=ticks,
            children=usage.ru_utime + usage.ru_stime,
        )

    @staticmethod
    def describe(before: CpuSample, after: CpuSample, children: str) -> str:
        """E.g. ``1.98 cores busy (server 1.20, PostgreSQL 0.30, wrk 0.05, others 0.43)``."""
        seconds = after.at - before.at
        if seconds <= 0:
            return "CPU not measured"
        machine = (after.machine - before.machine) / _TICKS / seconds
        shares = {
            label: (ticks - before.processes.get(label, 0)) / _TICKS / seconds
            for label, ticks in after.processes.items()
        }
        shares[children] = (after.children - before.children) / seconds
        shares["others"] = max(0.0, machine - sum(shares.values()))
        listed = ", ".join(f"{label} {cores:.2f}" for label, cores in shares.items())
        return f"{machine:.2f} cores busy ({listed})"


def users_count() -> int:
    """How many users the requests rotate over (USERS; override: USERS_VARIABLE)."""
    raw = os.environ.get(USERS_VARIABLE, "")
    count = int(raw) if raw.strip() else USERS
    if count < 1:
        raise BenchError(f"{USERS_VARIABLE} must be at least 1")
    return count


# --------------------------------------------------------------------------------------------
# Anchor: openssl speed

_MR_RSA = re.compile(r"^(Got: )?\+F2:\d+:(\d+):([\d.eE+-]+):", re.MULTILINE)
_TABLE_RSA = re.compile(r"^rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s.*?\s([\d.]+)\s", re.MULTILINE)


def parse_openssl_rsa_sign(output: str, processes: int, bits: int = 2048) -> float:
    """RSA ``bits`` sign/s summed over ``processes``, from ``openssl speed -mr -multi`` output.

    Each child reports ``Got: +F2:<index>:<bits>:<sign/s>:<verify/s>[:...]``; the parent then
    prints the sum without ``Got:``. The children are summed when all of them reported, the
    parent's line is taken otherwise; OpenSSL before 1.1 printed seconds per operation instead of
    a rate, which is inverted. Raises :class:`BenchError` when neither is there.
    """
    children: list[float] = []
    totals: list[float] = []
    for match in _MR_RSA.finditer(output):
        if int(match.group(2)) != bits:
            continue
        value = float(match.group(3))
        rate = 1.0 / value if 0 < value < 1 else value
        (children if match.group(1) else totals).append(rate)
    if processes > 1 and len(children) == processes:
        return sum(children)
    if totals:
        return totals[-1]
    table = _TABLE_RSA.search(output)
    if table is not None and processes == 1:
        return float(table.group(1))
    raise BenchError(f"cannot find rsa{bits} sign/s in openssl speed output:\n{output}")


def openssl_sign_per_second(processes: int, seconds: int = OPENSSL_SECONDS) -> float:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BenchError("openssl is not installed (Debian package `openssl`)")
    argv = [openssl, "speed", "-mr", "-seconds", str(seconds)]
    if processes > 1:
        argv += ["-multi", str(processes)]
    argv.append("rsa2048")
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=10 * seconds + 30, check=False
    )
    if completed.returncode != 0:
        raise BenchError(f"openssl speed failed ({completed.returncode}): {completed.stderr}")
    return parse_openssl_rsa_sign(completed.stdout + completed.stderr, processes)


# --------------------------------------------------------------------------------------------
# The scratch UserDB and its users


async def _entitle(url: str, accounts: Sequence[tuple[str, str | None]]) -> None:
    engine = database.create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            for uid, email in accounts:
                await users.upsert_user(connection, uid, email)
                await users.grant(connection, uid, 30, datetime.now(UTC))
    finally:
        await engine.dispose()


def entitle(url: str, accounts: Sequence[tuple[str, str | None]]) -> None:
    """Make each ``(uid, email)`` a user with a 30-day grant."""
    asyncio.run(_entitle(url, accounts))


def signing_bundle() -> str:
    """One fresh RSA-2048 issuer key, valid since yesterday (a key signs for 30 days)."""
    not_before = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    return render_key(generate([], not_before).private_key, not_before)


# --------------------------------------------------------------------------------------------
# The server: granian, one worker per core


def server_env(
    mode: Mode,
    *,
    userdb_url: str,
    bundle: str,
    metrics_dir: str,
    extra: Mapping[str, str],
) -> dict[str, str]:
    pythonpath = os.pathsep.join(
        part for part in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if part
    )
    return {
        "PYTHONPATH": pythonpath,
        "PHOENIX_ENV": "test",
        "PHOENIX_USERDB_URL": userdb_url,
        "PHOENIX_ISSUER_SIGNING_KEYS": bundle,
        "PHOENIX_ISSUER_QUOTA": str(QUOTA),
        "PHOENIX_FIREBASE_PROJECT_ID": PROJECT_ID,
        # Its own operations port: never make dev's, which may be running.
        "PHOENIX_OPS_PORT": str(free_port()),
        # phoenix serve with more than one worker: prometheus_client's multiprocess mode.
        "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        issuance_app.MODE_VARIABLE: mode,
        **extra,
    }


# --------------------------------------------------------------------------------------------
# One request, checked end to end


class Load(msgspec.Struct, frozen=True):
    """What wrk sends: one request body (verified to issue good tokens) and its media type."""

    body: bytes
    media_type: str
    tokens: int  # per request


def _open(request: urllib.request.Request) -> tuple[int, str, bytes]:
    # No proxy, ever: the benchmark talks to loopback only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            status: int = response.status
            return status, response.headers.get("content-type", ""), response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")
        raise BenchError(f"{request.full_url} answered {error.code}: {detail}") from None


def directory_key(base_url: str, expected_spki: bytes) -> TokenKey:
    """The issuer key the directory lists, which must be the benchmark's own."""
    _, _, document = _open(
        urllib.request.Request(base_url + DIRECTORY_PATH)  # noqa: S310 (loopback only)
    )
    key = TokenKey.from_base64url(json.loads(document)["token-keys"][0]["token-key"])
    if key.spki != expected_spki:
        raise BenchError("the issuer directory lists another key than the benchmark's")
    return key


def issue_and_verify(base_url: str, authorization: str, key: TokenKey, tokens: int) -> Load:
    """POST ``tokens`` TokenRequests (one, or a batch), finalize every signature of the answer
    into a token and verify it with ``key``; return the request, for wrk to send again."""
    challenge = TokenChallenge(2, "auth.phoenix.bench", b"", "origin.phoenix.bench")
    pairs = [build_token_request(challenge, key) for _ in range(tokens)]
    if tokens == 1:
        body, media_type = pairs[0][0].encode(), REQUEST_MEDIA_TYPE
        answer_type = RESPONSE_MEDIA_TYPE
    else:
        body = batch.encode_batch_request([request for request, _ in pairs])
        media_type, answer_type = batch.REQUEST_MEDIA_TYPE, batch.RESPONSE_MEDIA_TYPE
    status, content_type, answer = _open(
        urllib.request.Request(  # noqa: S310 (loopback only)
            base_url + TOKENS_PATH,
            data=body,
            method="POST",
            headers={"content-type": media_type, "authorization": authorization},
        )
    )
    if status != 200 or content_type != answer_type:
        raise BenchError(f"issuance answered {status} {content_type!r}, not 200 {answer_type}")
    if tokens == 1:
        signatures: list[bytes | None] = [TokenResponse.decode(answer).blind_sig]
    else:
        signatures = list(batch.decode_batch_response(answer))
    if len(signatures) != tokens:
        raise BenchError(f"{tokens} token requests got {len(signatures)} answers")
    for signature, (_, state) in zip(signatures, pairs, strict=True):
        if signature is None:
            raise BenchError("the issuer refused a token of the batch")
        verify_token(finalize_token(TokenResponse(signature), state), key)
    return Load(body, media_type, tokens)


# --------------------------------------------------------------------------------------------
# Load: wrk with a POST script


def lua_string(data: bytes) -> str:
    """A Lua string literal of ``data``, every byte as a three-digit decimal escape."""
    return '"' + "".join(f"\\{byte:03d}" for byte in data) + '"'


def wrk_script(load: Load, authorizations: Sequence[str]) -> str:
    """POST the load's body with each Authorization header in turn (one request per header,
    formatted once per wrk thread: per request, wrk's Lua only hands out the next one)."""
    headers = ",\n".join(f"  {lua_string(value.encode())}" for value in authorizations)
    return f"""\
local body = {lua_string(load.body)}
local content_type = {lua_string(load.media_type.encode())}
local authorizations = {{
{headers}
}}
local requests = {{}}
local next_request = 0

function init(args)
  for i, authorization in ipairs(authorizations) do
    requests[i] = wrk.format(
      "POST", nil, {{["Content-Type"] = content_type, ["Authorization"] = authorization}}, body
    )
  end
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
"""


def wrk_post(url: str, script: Path, *, seconds: int) -> WrkResult:
    """wrk with ``script`` on ``url``, as every load here runs it."""
    return wrk(
        url,
        seconds=seconds,
        connections=WRK_CONNECTIONS,
        threads=WRK_THREADS,
        script=script,
        timeout_seconds=WRK_TIMEOUT_SECONDS,
    )


# --------------------------------------------------------------------------------------------
# One mode: server up; per load, tokens verified, warm-up, measurement; server down


class Callers(msgspec.Struct, frozen=True):
    authorizations: tuple[str, ...]  # the Authorization headers wrk sends, in turn
    env: Mapping[str, str]  # what the server processes need to know them


def measure(
    mode: Mode,
    callers: Callers,
    batch_sizes: Sequence[int],
    *,
    userdb_url: str,
    bundle: str,
    workers: int,
    groups: Mapping[str, int] | None = None,
) -> dict[int, float]:
    """Tokens/s for each batch size (1: single TokenRequests), on one server in ``mode``: the
    best of :data:`ROUNDS` loads."""
    port = free_port()
    factory = PLAIN_FACTORY if mode == "plain" else ROLE_FACTORY
    command = granian_command(factory, port, factory=True, workers=workers)
    spki = parse_bundle(bundle)[0].token_key.spki
    rates: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-issuance-") as tmp:
        metrics_dir = Path(tmp) / "metrics"
        metrics_dir.mkdir()
        env = server_env(
            mode,
            userdb_url=userdb_url,
            bundle=bundle,
            metrics_dir=str(metrics_dir),
            extra=callers.env,
        )
        with running(command, port=port, ready_path=DIRECTORY_PATH, env=env) as base_url:
            key = directory_key(base_url, spki)
            probe = CpuProbe(
                port=port,
                database_name=urlsplit(userdb_url).path.lstrip("/"),
                groups=groups,
            )
            _note(f"{mode}: {command.details}, {len(callers.authorizations)} users")
            for size in batch_sizes:
                load = issue_and_verify(base_url, callers.authorizations[0], key, size)
                script = Path(tmp) / f"issue-{size}.lua"
                script.touch(mode=0o600)  # it holds bearer tokens
                script.write_text(wrk_script(load, callers.authorizations), encoding="utf-8")
                url = base_url + TOKENS_PATH
                wrk_post(url, script, seconds=WARMUP_SECONDS)
                for _ in range(ROUNDS):
                    before = probe.sample()
                    result = wrk_post(url, script, seconds=MEASURE_SECONDS)
                    cpu = CpuProbe.describe(before, probe.sample(), "wrk")
                    rate = result.requests_per_second * size
                    rates[size] = max(rates.get(size, 0.0), rate)
                    _note(
                        f"{mode}, {size} token(s) per request (verified before the load): "
                        f"{rate:,.1f} tokens/s, {result.requests_per_second:,.1f} req/s "
                        f"({result.requests} in {result.seconds:.2f} s), "
                        f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms; {cpu}"
                    )
    return rates


def stub_callers(userdb_url: str, count: int) -> Callers:
    """``count`` entitled users, each known to the stub by a random bearer token."""
    run_id = uuid.uuid4().hex[:8]
    table: dict[str, tuple[str, str]] = {}
    for number in range(count):
        uid = f"bench-stub-{run_id}-{number}"
        # Shaped like a compact JWS, as the app's bearer check asks before any verifier runs.
        token = ".".join(secrets.token_urlsafe(16) for _ in range(3))
        table[token] = (uid, f"{uid}@example.com")
    entitle(userdb_url, list(table.values()))
    return Callers(
        authorizations=tuple(f"Bearer {token}" for token in table),
        env={
            "FIREBASE_AUTH_EMULATOR_HOST": UNUSED_EMULATOR_HOST,
            issuance_app.IDENTITIES_VARIABLE: json.dumps(table),
        },
    )


def emulator_callers(emulator: FirebaseAuthEmulator, userdb_url: str, count: int) -> Callers:
    """``count`` emulator users (signed up, with their ID tokens), entitled in the UserDB."""
    accounts = [emulator.sign_up() for _ in range(count)]
    entitle(userdb_url, [(user.uid, user.email) for user in accounts])
    return Callers(
        authorizations=tuple(f"Bearer {user.id_token}" for user in accounts),
        env=emulator.env,
    )


# --------------------------------------------------------------------------------------------
# The benchmark


def results(
    stub: float, batched: float, firebase: float, plain: float, anchor: float, workers: int
) -> list[Result]:
    anchor_name = f"openssl rsa2048 sign/s x {workers} cores"

    def figure(name: str, value: float) -> Result:
        return Result(
            figure=name,
            value=round(value, 1),
            unit="tokens/s",
            anchor=anchor_name,
            anchor_value=round(anchor, 1),
        )

    return [
        Result(
            figure=PLAIN_FIGURE,
            value=round(stub, 1),
            unit="tokens/s",
            anchor="plain issuance tokens/s on the same server (bench.plain_issuance)",
            anchor_value=round(plain, 1),
            goal=GOAL,
        ),
        # Information: what OpenSSL alone signs on these cores.
        figure(STUB_FIGURE, stub),
        figure(BATCH_FIGURE, batched),
        figure(FIREBASE_FIGURE, firebase),
    ]


def run() -> Sequence[Result]:
    started = time.monotonic()
    workers = cores()
    count = users_count()
    _note(
        f"{workers} cores: granian with {workers} workers and wrk -t{WRK_THREADS} "
        f"-c{WRK_CONNECTIONS} share them (wrk's CPU counts against the server); requests rotate "
        f"over {count} users; {WARMUP_SECONDS} s warm-up and {MEASURE_SECONDS} s measured per "
        f"load; load average {os.getloadavg()[0]:.2f}"
    )
    bundle = signing_bundle()
    with scratch_database("userdb", "issuance") as userdb_url:
        probe = CpuProbe()
        before = probe.sample()
        anchor = openssl_sign_per_second(workers)
        _note(
            f"openssl speed -multi {workers} rsa2048: {anchor:,.1f} sign/s in total; "
            f"{CpuProbe.describe(before, probe.sample(), 'openssl')}"
        )
        callers = stub_callers(userdb_url, count)
        stub = measure(
            "stub", callers, (1, BATCH), userdb_url=userdb_url, bundle=bundle, workers=workers
        )
        plain = measure(
            "plain", callers, (1,), userdb_url=userdb_url, bundle=bundle, workers=workers
        )
        emulator = FirebaseAuthEmulator(project_id=PROJECT_ID)
        try:
            emulator.start()
            _note(f"Firebase Auth emulator up in {emulator.startup_seconds or 0:.1f} s")
            firebase = measure(
                "firebase",
                emulator_callers(emulator, userdb_url, count),
                (1,),
                userdb_url=userdb_url,
                bundle=bundle,
                workers=workers,
                groups={"emulator": emulator.process.pid} if emulator.process else None,
            )
        finally:
            emulator.stop()
    _note(f"issuance benchmark took {time.monotonic() - started:.1f} s")
    return results(stub[1], stub[BATCH], firebase[1], plain[1], anchor, workers)


if __name__ == "__main__":
    print(format_table(run()))

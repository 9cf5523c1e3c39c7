"""Several replicas behave as one, behind a real HAProxy running deploy/haproxy/haproxy.cfg.

Two auth and two config processes (`phoenix serve`, each on its own ports) share one UserDB, one
NodeDB and one Redis; HAProxy fronts both roles, and the config replicas fetch the issuer
directory through its auth frontend, as they would in production. Then:

- fifty concurrent redemptions of one Privacy Pass token through HAProxy give exactly one
  WireGuard config, and both config replicas served some of the fifty (their own request
  counters, and HAProxy's per-replica counts, say so);
- a node's long-poll held on one replica is woken by a connect served by the other within
  250 ms (the peer feed is a Redis stream every replica reads), and a long-poll of the full 25 s
  passes through HAProxy's timeouts;
- no client address goes on: forwarding headers a client sends are deleted (an echo backend
  shows what a replica receives), the proxy adds none and speaks no PROXY protocol, and neither
  the client's address nor a spoofed one appears in HAProxy's log or in the roles' logs.

Two worker processes firing each schedule once per period is proven with two real worker
processes on both brokers by
tests/integration/worker/test_jobs.py::test_two_worker_processes_fire_each_schedule_once_per_period,
not repeated here.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import re
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from phoenix.config.settings import ConfigSettings
from phoenix.config.tokens import challenge
from phoenix.crypto.privacypass.headers import build_authorization
from phoenix.dev.probes import free_port
from phoenix.settings import load
from tests.conftest import DatabaseTemplates, _database_url, drop_database, require
from tests.harness import haproxy
from tests.harness import issuer as issuer_keys
from tests.harness.nodes import OPERATOR_TOKEN, Enrolled, enroll_sync
from tests.harness.processes import RoleServer, SpareRedis
from tests.harness.scrape import sample as metric_sample
from tests.integration.config.conftest import MONITOR_TOKEN, beat, wg_key

# Where the test's client connects from (any 127/8 address is local on Linux): an address no
# server, database URL or startup line contains, so finding it anywhere means it leaked.
CLIENT_ADDRESS = "127.77.0.9"
SPOOFED = "198.51.100.7"
SPOOFING_HEADERS = {
    "x-forwarded-for": SPOOFED,
    "forwarded": f"for={SPOOFED}",
    "x-real-ip": SPOOFED,
}
FORWARDING = ("x-forwarded-for", "forwarded", "x-real-ip", "x-client-ip", "true-client-ip", "via")
WAKE_BOUND = 0.250  # seconds: the bound from a connect's answer to the node's wake-up
IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
LOOPBACK = re.compile(r"(?<![\d.])127(?:\.\d{1,3}){3}(?![\d.])")  # any client of this test's
DIRECTORY_PATH = "/.well-known/private-token-issuer-directory"


def client_from(base_url: str, **options: Any) -> httpx.AsyncClient:
    """An HTTP client whose connections come from CLIENT_ADDRESS."""
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS)
    return httpx.AsyncClient(base_url=base_url, transport=transport, trust_env=False, **options)


def haproxy_required() -> None:
    require("haproxy", haproxy.available(), "Debian package haproxy (scripts/apt-packages.txt)")


# ---------------------------------------------------------------- the shipped file alone


def self_signed_pem(directory: Path, name: str) -> None:
    """A certificate and its key in one PEM, as HAProxy's crt directory takes them."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (directory / f"{name}.pem").write_bytes(pem)


def test_the_shipped_file_checks_with_its_addresses_and_refuses_to_run_without_them(
    tmp_path: Path,
) -> None:
    haproxy_required()
    replicas = [haproxy.Replica(free_port(), free_port()) for _ in range(4)]
    env = haproxy.environment(replicas[:2], replicas[2:])
    done = haproxy.check(env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[WARNING]" not in done.stdout + done.stderr
    # With TLS (the production shape): the certificates' directory, no plain-HTTP switch.
    certs = tmp_path / "certs"
    certs.mkdir()
    for name in ("auth.phoenix.test", "config.phoenix.test"):
        self_signed_pem(certs, name)
    tls = {k: v for k, v in env.items() if k != "PHOENIX_LB_PLAIN_HTTP"}
    done = haproxy.check({**tls, "PHOENIX_LB_CERTS": f"{certs}/"})
    assert done.returncode == 0, done.stdout + done.stderr
    # A missing replica or bind fails the check, rather than starting with fewer replicas.
    for missing in ("PHOENIX_LB_CONFIG_2", "PHOENIX_LB_AUTH_BIND"):
        done = haproxy.check({k: v for k, v in env.items() if k != missing})
        assert done.returncode != 0
        assert missing in done.stderr


@dataclass
class Seen:
    request_line: str
    headers: list[tuple[str, str]]


@dataclass
class EchoBackend:
    """A replica stand-in that answers 200 to everything and records what reached it."""

    name: str
    seen: list[Seen] = field(default_factory=list)
    server: http.server.HTTPServer | None = None

    def start(self) -> EchoBackend:
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the roles' server speaks it

            def parse_request(self) -> bool:
                backend.seen.append(Seen(self.raw_requestline.decode(errors="replace"), []))
                ok = super().parse_request()
                if ok:
                    backend.seen[-1].headers.extend(self.headers.items())
                return ok

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                # ?delay=S answers after S seconds: a long-poll that waits its whole time.
                delay = parse_qs(urlsplit(self.path).query).get("delay")
                if delay:
                    time.sleep(float(delay[0]))
                body = backend.name.encode()
                self.send_response(200)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # HAProxy ends its health checks with a reset: nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def requests(self) -> list[Seen]:
        """What came in other than HAProxy's health checks."""
        return [s for s in self.seen if not s.request_line.startswith("GET /readyz ")]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@contextlib.contextmanager
def echoed(tmp_path: Path) -> Iterator[tuple[haproxy.HAProxy, list[EchoBackend]]]:
    """The shipped file run by HAProxy in front of four echo backends (two per role)."""
    haproxy_required()
    backends = [EchoBackend(name).start() for name in ("auth-1", "auth-2", "config-1", "config-2")]
    replicas = [haproxy.Replica(b.port, b.port) for b in backends]  # checks hit the same port
    proxy = haproxy.HAProxy(
        haproxy.environment(replicas[:2], replicas[2:]), tmp_path / "haproxy.log"
    )
    try:
        proxy.start()
        proxy.wait_all_up(30)
        yield proxy, backends
    finally:
        proxy.stop()
        for backend in backends:
            backend.stop()


async def test_the_proxy_passes_no_client_address_on_and_logs_none(tmp_path: Path) -> None:
    with echoed(tmp_path) as (proxy, backends):
        for url in (proxy.auth_url, proxy.config_url):
            async with client_from(url, timeout=10) as client:
                for _ in range(4):  # both replicas of the role get some
                    got = await client.get("/v1/locations?x=1", headers=SPOOFING_HEADERS)
                    assert got.status_code == 200
                    posted = await client.post("/v1/connect", json={}, headers=SPOOFING_HEADERS)
                    assert posted.status_code == 200
        log = proxy.logged(" /v1/", at_least=16)  # 2 frontends x 4 x (GET + POST)
    for backend in backends:
        seen = backend.requests()
        assert seen, f"{backend.name} got no request"
        for request in seen:
            # No PROXY protocol line: the first line is an HTTP request line.
            assert request.request_line.startswith(("GET /v1/", "POST /v1/")), request
            names = {name.lower() for name, _ in request.headers}
            assert not names & set(FORWARDING), request.headers
            for _, value in request.headers:
                assert SPOOFED not in value, request.headers
                assert CLIENT_ADDRESS not in value, request.headers
    requests_logged = [line for line in log.splitlines() if " /v1/" in line]
    assert len(requests_logged) == 16, log
    assert SPOOFED not in log, log
    assert CLIENT_ADDRESS not in log, log
    for line in requests_logged:
        assert not IPV4.search(line), line  # no address at all, nor the query string
        assert "x=1" not in line


@pytest.mark.slow
def test_a_long_poll_of_the_full_25_seconds_passes_the_proxys_timeouts(tmp_path: Path) -> None:
    """The config frontend's client and server timeouts outlast the longest long-poll (25 s,
    phoenix.config.api.MAX_WAIT_SECONDS): a backend that answers only then is not cut off."""
    with echoed(tmp_path) as (proxy, _):
        path = f"/v1/nodes/{uuid.uuid4()}/peers?since=0&wait=25&delay=25"
        started = time.monotonic()
        answer = httpx.get(proxy.config_url + path, timeout=60, trust_env=False)
        elapsed = time.monotonic() - started
    assert answer.status_code == 200, answer.text  # not a 504 from the proxy
    assert answer.text.startswith("config-")
    assert 25 <= elapsed < 35, elapsed


# ---------------------------------------------------------------- the replicas behind it


@dataclass
class Replicas:
    auth: list[RoleServer]
    config: list[RoleServer]
    proxy: haproxy.HAProxy
    settings: ConfigSettings
    node: Enrolled
    directory: Path

    def tokens(self, count: int) -> list[str]:
        raw = issuer_keys.mint_tokens(
            issuer_keys.private_keys(1)[0], challenge(self.settings), count
        )
        return [build_authorization(token) for token in raw]

    async def beat(self, client: httpx.AsyncClient) -> dict[str, Any]:
        """The node's heartbeat (its first, or a later one to stay live); the answer."""
        answer = await client.post(
            f"/v1/nodes/{self.node.id}/heartbeat", json=beat(), headers=self.node.auth
        )
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def logs(self) -> dict[str, str]:
        found = {"haproxy": self.proxy.logs()}
        for server in self.auth + self.config:
            found[server.log_path.stem] = server.logs()
        return found


def requests_counted(server: RoleServer, path: str) -> dict[str, float]:
    """The replica's own ``phoenix_requests_total`` for ``path``, by status code."""
    text = httpx.get(server.ops_url + "/metrics", timeout=5, trust_env=False).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "phoenix_requests_total" and sample.labels.get("path") == path:
                status = sample.labels["status_code"]
                counts[status] = counts.get(status, 0) + sample.value
    return counts


@pytest.fixture(scope="module")
def replicas(
    postgres_url: str,
    database_templates: DatabaseTemplates,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Replicas]:
    haproxy_required()
    require("redis-server", SpareRedis.available(), "the redis-server binary")
    directory = tmp_path_factory.mktemp("replicas")
    tag = uuid.uuid4().hex[:10]
    databases = {
        tree: _database_url(postgres_url, f"phoenix_test_replicas_{tree}_{tag}")
        for tree in ("userdb", "nodedb")
    }
    with contextlib.ExitStack() as stack:
        for tree, url in databases.items():
            database_templates.copy(tree, url)  # type: ignore[arg-type]
            stack.callback(drop_database, postgres_url, url.rsplit("/", 1)[1])
        redis = SpareRedis(directory)
        redis.start()
        stack.callback(redis.stop)
        lb_auth_port = free_port()
        auth_env = {
            "PHOENIX_ENV": "test",
            "PHOENIX_USERDB_URL": databases["userdb"],
            "PHOENIX_ISSUER_SIGNING_KEYS": issuer_keys.bundle(),
            "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
            # Issuance is not exercised here: an emulator address nothing listens on.
            "FIREBASE_AUTH_EMULATOR_HOST": f"127.0.0.1:{free_port()}",
        }
        config_env = {
            "PHOENIX_ENV": "test",
            "PHOENIX_NODEDB_URL": databases["nodedb"],
            "PHOENIX_REDIS_URL": redis.url,
            "PHOENIX_OPERATOR_TOKEN": OPERATOR_TOKEN,
            "PHOENIX_MONITOR_TOKEN": MONITOR_TOKEN,
            "PHOENIX_FLEET_SWEEP_SECONDS": "3600",
            # Through HAProxy's auth frontend, as in production: any auth replica answers it.
            "PHOENIX_ISSUER_DIRECTORY_URL": f"http://127.0.0.1:{lb_auth_port}{DIRECTORY_PATH}",
        }
        auth = [RoleServer("auth", auth_env, directory / f"auth-{i}.log") for i in (1, 2)]
        config = [RoleServer("config", config_env, directory / f"config-{i}.log") for i in (1, 2)]
        env = haproxy.environment(
            [haproxy.Replica(s.port, s.ops_port) for s in auth],
            [haproxy.Replica(s.port, s.ops_port) for s in config],
            auth_port=lb_auth_port,
        )
        proxy = haproxy.HAProxy(env, directory / "haproxy.log")
        for server in auth:
            stack.callback(server.stop)
            server.start()
        stack.callback(proxy.stop)
        proxy.start()
        for server in config:
            stack.callback(server.stop)
            server.start()
        # Every replica ready (config's readiness includes the directory fetched through the
        # proxy), as HAProxy's own health checks see them.
        proxy.wait_all_up(90)
        settings = load(ConfigSettings, config_env)
        # Enrolled through the proxy: the key minted, the challenge and the registration are
        # answered by whichever replicas HAProxy picks (challenges live in the shared Redis).
        with httpx.Client(base_url=proxy.config_url, timeout=30, trust_env=False) as client:
            node = enroll_sync(client)
            first = client.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
            assert first.status_code == 200, first.text
        yield Replicas(auth, config, proxy, settings, node, directory)


@pytest.mark.slow
async def test_fifty_concurrent_redemptions_through_haproxy_give_one_config_from_either_replica(
    replicas: Replicas,
) -> None:
    [token] = replicas.tokens(1)
    async with httpx.AsyncClient(
        base_url=replicas.proxy.config_url, timeout=30, trust_env=False
    ) as client:
        await replicas.beat(client)  # the node is live (its heartbeats last 30 s)
        before = [requests_counted(s, "/v1/connect") for s in replicas.config]
        proxy_before = replicas.proxy.servers()
        answers = await asyncio.gather(
            *(
                client.post(
                    "/v1/connect",
                    json={"location": "de-fra", "public_key": wg_key()},
                    headers={"authorization": token},
                )
                for _ in range(50)
            )
        )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [401] * 49, statuses
    [won] = [a for a in answers if a.status_code == 200]
    assert won.json()["peer"]["public_key"] == replicas.node.keys.public_b64
    for refused in (a for a in answers if a.status_code == 401):
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/token-spent"), refused.text
    after = [requests_counted(s, "/v1/connect") for s in replicas.config]
    served = [
        {status: count - b.get(status, 0) for status, count in a.items() if count != b.get(status)}
        for b, a in zip(before, after, strict=True)
    ]
    proxy_after = replicas.proxy.servers()
    by_proxy = {
        name: int(proxy_after[("config", name)]["stot"]) - int(row["stot"])
        for (_, name), row in proxy_before.items()
        if name.startswith("config-")
    }
    print(f"\nrace: {statuses.count(200)} config, {statuses.count(401)} token-spent")
    print(f"served per replica (own counters, by status): {served}; by HAProxy's count: {by_proxy}")
    assert sum(sum(s.values()) for s in served) == 50, served
    assert all(sum(s.values()) > 0 for s in served), served
    assert sorted(by_proxy.values()) == sorted(sum(s.values()) for s in served), by_proxy


async def _until_waiting(server: RoleServer, polls: int) -> None:
    """Until ``server`` counts ``polls`` long-polls waiting (its own gauge), 10 s at most."""
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient(timeout=5, trust_env=False) as ops:
        while True:
            text = (await ops.get(server.ops_url + "/metrics")).text
            if metric_sample(text, "phoenix_config_long_polls_waiting") == polls:
                return
            assert time.monotonic() < deadline, "the long-poll never started waiting"
            await asyncio.sleep(0.02)


async def _poll(
    client: httpx.AsyncClient, node: Enrolled, since: int, wait: float
) -> tuple[float, httpx.Response]:
    answer = await client.get(
        f"/v1/nodes/{node.id}/peers", params={"since": since, "wait": wait}, headers=node.auth
    )
    return time.monotonic(), answer


@pytest.mark.slow
async def test_a_long_poll_on_one_replica_wakes_within_250_ms_of_a_connect_on_the_other(
    replicas: Replicas,
) -> None:
    node = replicas.node
    tokens = replicas.tokens(6)
    delays: list[float] = []  # from the connect's answer to the long-poll's
    since_sent: list[float] = []  # from the connect's request to the long-poll's answer
    clients = [
        httpx.AsyncClient(base_url=s.base_url, timeout=30, trust_env=False) for s in replicas.config
    ]
    try:
        await replicas.beat(clients[0])
        _, current = await _poll(clients[0], node, 0, 0)
        revision = int(current.json()["revision"])
        for attempt, token in enumerate(tokens):
            # The poll waits on one replica, the connect is served by the other (both ways).
            waiting_on, connecting_to = clients[attempt % 2], clients[1 - attempt % 2]
            waiting = asyncio.create_task(_poll(waiting_on, node, revision, 10))
            await _until_waiting(replicas.config[attempt % 2], 1)  # on its replica's notifier
            assert not waiting.done()
            key = wg_key()
            sent = time.monotonic()
            answer = await connecting_to.post(
                "/v1/connect",
                json={"location": "de-fra", "public_key": key},
                headers={"authorization": token},
            )
            answered = time.monotonic()
            assert answer.status_code == 200, answer.text
            woke, feed = await asyncio.wait_for(waiting, 15)
            assert feed.status_code == 200, feed.text
            changes = feed.json()["changes"]
            assert [c["public_key"] for c in changes] == [key]
            revision = int(feed.json()["revision"])
            delays.append(woke - answered)
            since_sent.append(woke - sent)
    finally:
        for client in clients:
            await client.aclose()
    for what, figures in (("answered", delays), ("sent", since_sent)):
        listed = ", ".join(f"{d * 1000:.1f}" for d in figures)
        print(
            f"\nwake delays (connect {what} -> long-poll answered), ms: {listed}; "
            f"median {statistics.median(figures) * 1000:.1f}, max {max(figures) * 1000:.1f}"
        )
    assert max(delays) <= WAKE_BOUND, delays


@pytest.mark.slow
async def test_a_long_poll_of_the_full_25_seconds_passes_through_haproxy(
    replicas: Replicas,
) -> None:
    node = replicas.node
    async with httpx.AsyncClient(
        base_url=replicas.proxy.config_url, timeout=60, trust_env=False
    ) as client:
        _, current = await _poll(client, node, 0, 0)
        revision = int(current.json()["revision"])
        started = time.monotonic()
        _, answer = await _poll(client, node, revision, 25)
        elapsed = time.monotonic() - started
    assert answer.status_code == 200, answer.text  # not HAProxy's 504
    # A snapshot before the wait is over: the replica stopped waiting on Redis early.
    waited = {"revision": revision, "snapshot": False, "changes": [], "peers": None}
    assert answer.json() == waited, f"answered after {elapsed:.1f} s: {answer.text}"
    assert 24 <= elapsed < 35, elapsed


@pytest.mark.slow
async def test_both_auth_replicas_answer_the_one_issuer_directory_through_haproxy(
    replicas: Replicas,
) -> None:
    before = [requests_counted(s, DIRECTORY_PATH) for s in replicas.auth]
    async with httpx.AsyncClient(
        base_url=replicas.proxy.auth_url, timeout=30, trust_env=False
    ) as client:
        answers = [await client.get(DIRECTORY_PATH) for _ in range(6)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1  # the same keys, whichever replica answered
    after = [requests_counted(s, DIRECTORY_PATH) for s in replicas.auth]
    served = [sum(a.values()) - sum(b.values()) for b, a in zip(before, after, strict=True)]
    assert sum(served) == 6, served
    assert min(served) > 0, served  # round robin: both answered


@pytest.mark.slow
async def test_no_client_address_reaches_the_roles_or_the_proxy_log(replicas: Replicas) -> None:
    [token] = replicas.tokens(1)
    async with client_from(replicas.proxy.config_url, timeout=30) as config:
        await replicas.beat(config)
        for path in ("/v1/locations", "/v1/token-challenge"):
            assert (await config.get(path, headers=SPOOFING_HEADERS)).status_code == 200
        answer = await config.post(
            "/v1/connect",
            json={"location": "de-fra", "public_key": wg_key()},
            headers={"authorization": token, **SPOOFING_HEADERS},
        )
        assert answer.status_code == 200, answer.text
        spent = await config.post(
            "/v1/connect",
            json={"location": "de-fra", "public_key": wg_key()},
            headers={"authorization": token, **SPOOFING_HEADERS},
        )
        assert spent.status_code == 401
    async with client_from(replicas.proxy.auth_url, timeout=30) as auth:
        assert (await auth.get(DIRECTORY_PATH, headers=SPOOFING_HEADERS)).status_code == 200
        refused = await auth.post(
            "/v1/tokens",
            content=b"\x00\x02",
            headers={"content-type": "application/private-token-request", **SPOOFING_HEADERS},
        )
        assert refused.status_code == 401  # no Firebase ID token
        assert (await auth.get("/v1/account", headers=SPOOFING_HEADERS)).status_code == 401
    # The proxy logs a request when it ends, after the replica's own line: once the last one
    # is in the proxy's log, every line of these requests is written.
    replicas.proxy.logged(" /v1/account", at_least=1)
    logs = replicas.logs()
    for name, text in logs.items():
        assert CLIENT_ADDRESS not in text, name
        assert SPOOFED not in text, name
    proxy_requests = [line for line in logs["haproxy"].splitlines() if " /v1/" in line]
    assert proxy_requests, logs["haproxy"]
    for line in proxy_requests:
        assert not IPV4.search(line), line
    # The address every request reached the roles from (HAProxy's, on loopback) is in no line
    # of the proxy's log, and in the roles' logs only where a server says where it listens.
    assert "127.0.0.1" not in logs["haproxy"]
    for name, text in logs.items():
        if name == "haproxy":
            continue
        assert '"route"' in text, name  # each replica did log requests
        for line in text.splitlines():
            if LOOPBACK.search(line):
                assert "Listening at" in line or "ops_listener_started" in line, (name, line)

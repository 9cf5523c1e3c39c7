"""The user's whole path through the running system, then a sweep for what it must not leave.

    client 192.0.2.2 ──veth── 192.0.2.1 node 203.0.114.1 ──veth── 203.0.114.2 internet

Every role runs as a `phoenix serve` process on databases and a Redis of this test's own; the
daemon and wireguard-go run in the node namespace, `phoenix-client` and wireguard-go in the client
namespace. The client reaches the roles (and the Firebase Auth emulator) through forwards inside
its namespace whose relays connect from the loopback address CLIENT_LOOPBACK, so the servers see
that address as the client's. The journey: sign up → a signed Stripe checkout → tokens → connect
→ the node adds the peer → ping through the tunnel → analytics events in a report → DELETE
/v1/account → the tokens left still redeem. Then the sweep: neither client address in any log
line, Postgres row, Redis key or value, or ClickHouse row; UserDB without node, lease or token
data; NodeDB and Redis without the user; every role's /metrics and the node's pass promtool and
carry no address, key, token, uid or email in any label.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from node_harness import netns as netns_harness
from node_harness import wireguard as wg_harness
from node_harness.netns import Netns, kill_wireguard_go, link
from node_harness.wireguard import wait_until
from phoenix.crypto.privacypass.base64url import b64url_decode
from phoenix.crypto.privacypass.structures import Token
from phoenix.crypto.wireguard import encode_key, parse_key, public_key
from tests.conftest import DatabaseTemplates, require
from tests.harness.firebase import FirebaseAuthEmulator
from tests.harness.port_forward import PortForward
from tests.harness.scrape import label_leaks, promtool_problems, sample
from tests.harness.system import OPERATOR_TOKEN, PhoenixSystem, running_system
from tests.integration.node_with_server.conftest import Daemon

pytestmark = [pytest.mark.slow, pytest.mark.needs_root]

NODE_IP, CLIENT_IP = "192.0.2.1", "192.0.2.2"
EGRESS_IP, INTERNET_IP = "203.0.114.1", "203.0.114.2"
CLIENT_LOOPBACK = "127.42.7.9"  # where the client's requests reach the servers from
NODE_METRICS_PORT = 9586  # on the node namespace's loopback, as on a real node
NODE_SCRAPE = (
    "import sys, urllib.request; "
    f"sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:{NODE_METRICS_PORT}/metrics')"
    ".read().decode())"
)
PASSWORD = "journey password\n"


@contextlib.contextmanager
def namespaces() -> Iterator[tuple[Netns, Netns, Netns]]:
    made: list[Netns] = []
    try:
        client, node, internet = (Netns(n) for n in ("jclient", "jnode", "jinet"))
        made += [client, node, internet]
        link(client, "c0", f"{CLIENT_IP}/24", node, "n0", f"{NODE_IP}/24")
        link(node, "n1", f"{EGRESS_IP}/24", internet, "i0", f"{INTERNET_IP}/24")
        yield client, node, internet
    finally:
        for ns in made:
            ns.delete()


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def wg_setconf_text(wg_quick: str) -> str:
    """wg-quick's file without the keys only wg-quick reads (what `wg-quick strip` does)."""
    return "".join(
        line + "\n"
        for line in wg_quick.splitlines()
        if not line.startswith(("Address", "DNS", "#"))
    )


def wg_quick_values(text: str, key: str) -> list[str]:
    values = []
    for line in text.splitlines():
        if line.startswith(f"{key} = "):
            values += [v.strip() for v in line.split("=", 1)[1].split(",")]
    return values


def postgres_rows(url: str) -> dict[str, list[str]]:
    """Every row of every table of the database, each as its text form."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(url) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (table,) in tables:
            rows = connection.execute(f'SELECT t::text FROM "{table}" t').fetchall()  # noqa: S608
            found[table] = [str(row[0]) for row in rows]
    return found


def redis_contents(url: str) -> list[str]:
    """Every key and value (of every type) in the system's own Redis, as text."""
    client = redis.Redis.from_url(url)
    found: list[str] = []
    try:
        for key in client.scan_iter(count=1000):
            found.append(key.decode(errors="replace"))
            kind = client.type(key).decode()
            value: Any
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(key)
            else:
                value = kind
            found.append(repr(value))
    finally:
        client.close()
    return found


CHDB_DUMP = """
import sys, chdb
connection = chdb.connect(sys.argv[1])
cursor = connection.cursor()
cursor.execute("SELECT database, name FROM system.tables WHERE database NOT IN "
               "('system', 'INFORMATION_SCHEMA', 'information_schema')")
for database, table in cursor.fetchall():
    cursor.execute(f"SELECT * FROM `{database}`.`{table}`")
    for row in cursor.fetchall():
        print(database, table, *row, sep="\\t")
connection.close()
"""


def clickhouse_rows(path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", CHDB_DUMP, str(path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


def assert_requests_come_from(client_ns: Netns, source: str) -> None:
    """The sweep looks for `source` only if the servers really saw it: a listener on the host's
    loopback, reached through such a forward, must see `source` as its peer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        forward = PortForward(client_ns, listener.getsockname()[1], source=source)
        try:
            connect = (
                "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])))"
            )
            client_ns.exec(sys.executable, "-c", connect, str(forward.port))
            listener.settimeout(5)
            accepted, peer = listener.accept()
            accepted.close()
        finally:
            forward.close()
    assert peer[0] == source


def post_events(client_ns: Netns, url: str) -> None:
    """What an app sends after a session: coarse buckets only, from the client's namespace."""
    events = [
        {"type": "connection_attempt", "platform": "linux", "app_version": "1.0",
         "region": "de-fra", "outcome": "ok", "latency_bucket": "<100ms"},
    ] * 3  # fmt: skip
    script = (
        "import httpx, json, sys; "
        "r = httpx.post(sys.argv[1] + '/v1/events', json={'events': json.loads(sys.argv[2])}); "
        "print(r.status_code)"
    )
    done = client_ns.exec(sys.executable, "-c", script, url, json.dumps(events))
    assert done.stdout.strip() == "202", done.stdout + done.stderr


def report(system: PhoenixSystem) -> dict[str, Any]:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    window = {
        "from": (hour - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": (hour + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    answer = httpx.get(
        system.base_url("analytics") + "/v1/reports/connection-failures",
        params=window,
        headers={"authorization": f"Bearer {OPERATOR_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_sign_up_pay_connect_ping_report_delete_and_leave_no_trace(
    tmp_path: Path, database_templates: DatabaseTemplates, firebase_emulator: FirebaseAuthEmulator
) -> None:
    ok_ns, why = netns_harness.available()
    require("network namespaces", ok_ns, why)
    ok_wg, why = wg_harness.available()
    require("wireguard-go", ok_wg, why)
    cleanup: list[Any] = []
    system_dir = tmp_path / "system"
    system_dir.mkdir()
    with (
        running_system(
            system_dir,
            database_templates,
            firebase_emulator,
            analytics=True,
            node_networks=[f"{NODE_IP}/32"],  # the node's documentation address, and no other
        ) as system,
        namespaces() as (client_ns, node_ns, _internet),
    ):
        try:
            _journey(system, client_ns, node_ns, tmp_path, cleanup)
        finally:
            for step in reversed(cleanup):
                step()


def _journey(
    system: PhoenixSystem, client_ns: Netns, node_ns: Netns, tmp_path: Path, cleanup: list[Any]
) -> None:
    # The exit node: phoenix-node (wireguard-go, nftables, NAT) in its namespace, enrolled with
    # a single-use key the operator minted for its location.
    node_forward = PortForward(node_ns, system.servers["config"].port)
    cleanup.append(node_forward.close)
    daemon = Daemon(
        node_ns, node_forward, tmp_path / "node.log", public_ip=NODE_IP, egress_interface="n1",
        enrollment_key=system.enrollment_key("de-fra"), metrics_port=NODE_METRICS_PORT,
    )  # fmt: skip
    cleanup.append(daemon.cleanup)
    daemon.start()
    node_id = str(daemon.wait_for("register_done")["node_id"])
    daemon.wait_for("heartbeat_ok")
    daemon.wait_for("sync_live")

    # The client's view of the servers: forwards inside its namespace.
    assert_requests_come_from(client_ns, CLIENT_LOOPBACK)
    via: dict[str, str] = {}
    ports = {role: server.port for role, server in system.servers.items()}
    ports["firebase"] = system.emulator.port
    for name, port in ports.items():
        forward = PortForward(client_ns, port, source=CLIENT_LOOPBACK)
        cleanup.append(forward.close)
        address = f"127.0.0.1:{forward.port}"
        via[name] = address if name == "firebase" else f"http://{address}"
    home = tmp_path / "client-home"

    def client(*argv: str, stdin: str | None = None) -> str:
        prefix = client_ns.command()
        return ok(system.client(home, *argv, stdin=stdin, prefix=prefix, via=via))

    # Sign up on the emulator; pay with Stripe; fetch tokens.
    email = FirebaseAuthEmulator.unique_email()
    client("signup", "--email", email, stdin=PASSWORD)
    uid = json.loads(client("account"))["uid"]
    system.subscribe(uid)
    assert json.loads(client("account"))["entitlement"]["active"] is True
    assert client("tokens", "fetch", "--count", "4") == "fetched 4 tokens; the wallet holds 4\n"
    tokens = [t["token"] for t in json.loads((home / "tokens.json").read_text())["tokens"]]

    # Connect: one token redeemed; the node hears of the peer through its long-poll.
    assert client("locations").startswith("de-fra")
    conf = tmp_path / "wg-client.conf"
    client("connect", "--location", "de-fra", "--wg-quick", str(conf))
    text = conf.read_text()
    [private] = wg_quick_values(text, "PrivateKey")
    client_key = encode_key(public_key(parse_key(private)))
    tunnel_addresses = [a.split("/")[0] for a in wg_quick_values(text, "Address")]
    interface = f"wgj{uuid.uuid4().hex[:8]}"
    client_ns.exec("wireguard-go", interface)
    cleanup.append(lambda: kill_wireguard_go(interface))
    stripped = tmp_path / "wg-client.setconf"
    stripped.write_text(wg_setconf_text(text))
    client_ns.exec("wg", "setconf", interface, str(stripped))
    stripped.unlink()
    for address in wg_quick_values(text, "Address"):
        client_ns.exec("ip", "addr", "add", address, "dev", interface)
    client_ns.exec("ip", "link", "set", interface, "up")
    client_ns.exec("ip", "route", "add", f"{INTERNET_IP}/32", "dev", interface)
    wait_until(lambda: client_key in daemon.peers(), timeout=2)

    # Traffic: the internet namespace answers the client only through the node's NAT.
    ping = client_ns.exec("ping", "-n", "-c", "3", "-W", "2", INTERNET_IP, check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert " 0% packet loss" in ping.stdout

    # Analytics: events from the client's side appear, aggregated, in the operator's report.
    post_events(client_ns, via["analytics"])
    deadline = time.monotonic() + 15
    while not report(system).get("cells") and time.monotonic() < deadline:
        time.sleep(0.3)
    [cell] = report(system)["cells"]
    assert (cell["region"], cell["attempts"], cell["failures"]) == ("de-fra", 3, 0)

    # Auth holds nothing of the network: no node, lease, location, key, address or token.
    with psycopg.connect(system.url("nodedb")) as connection:
        [(node_key,)] = connection.execute(
            "SELECT public_key FROM nodes WHERE id = %s", (node_id,)
        ).fetchall()
    network_facts = [node_id, encode_key(bytes(node_key)), client_key, *tunnel_addresses]
    network_facts += ["de-fra", *tokens]
    network_facts += [Token.decode(b64url_decode(t)).nonce.hex() for t in tokens]
    userdb = postgres_rows(system.url("userdb"))
    assert not {"nodes", "leases"} & set(userdb)
    for table, rows in userdb.items():
        for fact in network_facts:
            assert not any(fact in row for row in rows), (table, fact)

    # Delete the account: UserDB keeps nothing of the user; the tokens left still redeem.
    assert client("account", "--delete").startswith("account deleted")
    for table, rows in postgres_rows(system.url("userdb")).items():
        assert not any(uid in row or email in row for row in rows), table
    assert "[Peer]" in client("connect", "--location", "de-fra")

    # Metrics: aggregates only, everywhere, in an exposition Prometheus takes. The census
    # has counted the node first, so its location labels are among what is swept.
    config_metrics = f"{system.servers['config'].ops_url}/metrics"
    wait_until(
        lambda: sample(
            httpx.get(config_metrics, timeout=10).text,
            "phoenix_config_nodes", status="active", location="de-fra",
        ) == 1,
        timeout=30,
    )  # fmt: skip
    expositions = {
        role: httpx.get(f"{server.ops_url}/metrics", timeout=10).text
        for role, server in system.servers.items()
    }
    expositions["phoenix-node"] = node_ns.exec(sys.executable, "-c", NODE_SCRAPE).stdout
    secrets = [CLIENT_IP, CLIENT_LOOPBACK, NODE_IP, uid, email]
    secrets += [fact for fact in network_facts if fact != "de-fra"]  # a location is an aggregate
    for where, exposition in expositions.items():
        assert label_leaks(exposition, secrets) == [], where
        assert promtool_problems(exposition) == "", where
    assert sample(expositions["config"], "phoenix_config_redemptions_total", outcome="ok") == 2
    assert sample(expositions["phoenix-node"], "phoenix_node_peers") >= 1

    # The sweep. ClickHouse is read once analytics has stopped (chDB is one process's).
    time.sleep(1)  # a heartbeat or two after the traffic
    system.servers["analytics"].stop()
    nodedb = postgres_rows(system.url("nodedb"))
    assert nodedb["leases"], "the sweep reads the rows the journey wrote"
    kept = {
        **{f"log of {role}": log.splitlines() for role, log in system.logs().items()},
        "log of phoenix-node": daemon.text().splitlines(),
        **{f"userdb.{t}": rows for t, rows in postgres_rows(system.url("userdb")).items()},
        **{f"nodedb.{t}": rows for t, rows in nodedb.items()},
        "redis": redis_contents(system.redis.url) if system.redis else [],
        "clickhouse": clickhouse_rows(system.directory / "chdb"),
    }
    assert kept["clickhouse"], "the sweep reads the rows analytics wrote"
    assert any("/v1/connect" in line for line in kept["log of config"])
    for where, lines in kept.items():
        for secret in (CLIENT_IP, CLIENT_LOOPBACK):
            assert not any(secret in line for line in lines), (where, secret)
    for where in ("redis", *(k for k in kept if k.startswith(("nodedb.", "log of config")))):
        for secret in (uid, email):
            assert not any(secret in line for line in kept[where]), (where, secret)

"""The issuer key watch reads the issuer's public directory over real HTTP and warns, days ahead,
when the issuer is about to run out of a key it may sign with (not-before + max age)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from phoenix.crypto.privacypass.token_key import TokenKey
from phoenix.settings import load
from phoenix.worker.app import create_app
from phoenix.worker.issuer_keys import DirectoryUnusable, IssuerKeyWatch
from phoenix.worker.settings import WorkerSettings
from tests.harness.hosts_server import HostsServer, Served
from tests.harness.issuer import private_keys

DAY = 86_400
PATH = "/.well-known/private-token-issuer-directory"
MAX_AGE = timedelta(days=30)


def directory(*not_before_days_ago: float) -> bytes:
    """An RFC 9578 §4 directory listing one real key per not-before, newest first as auth does."""
    now = time.time()
    keys = private_keys(len(not_before_days_ago))
    dated = sorted(
        zip(not_before_days_ago, keys, strict=True), key=lambda pair: pair[0]
    )  # fewest days ago (newest) first
    entries = [
        {
            "token-type": 2,
            "token-key": TokenKey(key.public_key()).to_base64url(),
            "not-before": int(now - days * DAY),
        }
        for days, key in dated
    ]
    body = {"issuer-request-uri": "/v1/tokens", "token-keys": entries}
    return json.dumps(body).encode()


@pytest.fixture
def issuer() -> Iterator[HostsServer]:
    """A real HTTP server standing in for the auth role's public directory."""
    server = HostsServer()
    yield server
    server.stop()


def serve(issuer: HostsServer, body: bytes) -> str:
    issuer.files[PATH] = Served(body, content_type="application/private-token-issuer-directory")
    return issuer.url + PATH


def gauge() -> float | None:
    """Days of signing left, as an alert rule computes them from the exported timestamp."""
    last = REGISTRY.get_sample_value("phoenix_worker_issuer_key_last_signing_timestamp_seconds")
    return None if last is None else (last - time.time()) / 86_400


def warnings(lines: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [line for line in lines if line["event"] == "issuer_key_rotation_due"]


@contextmanager
def watching(url: str) -> Iterator[IssuerKeyWatch]:
    with httpx.Client(timeout=10) as http:
        yield IssuerKeyWatch(http, url, MAX_AGE, warn_days=7)


def test_a_key_25_days_into_its_30_with_no_successor_warns_with_5_days_left(
    issuer: HostsServer,
) -> None:
    with watching(serve(issuer, directory(25))) as checker, capture_logs() as lines:
        checker.run()
    (warning,) = warnings(lines)
    assert warning["log_level"] == "warning"
    assert warning["days_left"] == pytest.approx(5, abs=0.1)
    # Only public facts about the key, nothing about anyone who used it.
    assert set(warning) == {
        "event",
        "log_level",
        "logger_name",
        "days_left",
        "truncated_key_id",
        "not_before",
        "last_signing",
        "hint",
    }
    key_id = TokenKey(private_keys(1)[0].public_key()).truncated_token_key_id
    assert warning["truncated_key_id"] == key_id
    assert gauge() == pytest.approx(5, abs=0.1)


def test_a_listed_successor_means_no_warning_and_the_gauge_counts_its_days(
    issuer: HostsServer,
) -> None:
    # The rotation ran: the next key starts in 2 days, so signing can go on for 32 more days.
    with watching(serve(issuer, directory(25, -2))) as checker, capture_logs() as lines:
        checker.run()
    assert warnings(lines) == []
    assert gauge() == pytest.approx(32, abs=0.1)


def test_a_fresh_key_sets_the_gauge_on_a_run_without_warning(issuer: HostsServer) -> None:
    with watching(serve(issuer, directory(25))) as checker:
        checker.run()
    assert gauge() == pytest.approx(5, abs=0.1)
    issuer.files[PATH] = Served(directory(1))
    with watching(issuer.url + PATH) as checker, capture_logs() as lines:
        checker.run()
    assert warnings(lines) == []
    assert gauge() == pytest.approx(29, abs=0.1)


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"<html>maintenance</html>", 200, "not an issuer directory"),
        (
            json.dumps({"issuer-request-uri": "/v1/tokens", "token-keys": []}).encode(),
            200,
            "no type-2 key",
        ),
        (None, 404, "answered 404"),
    ],
)
def test_a_directory_that_says_nothing_usable_fails_the_job_loudly(
    issuer: HostsServer, body: bytes | None, status: int, reason: str
) -> None:
    url = serve(issuer, body) if body is not None else issuer.url + "/nowhere"
    with watching(url) as checker, pytest.raises(DirectoryUnusable, match=reason):
        checker.run()


def test_the_worker_schedules_the_check_and_its_actor_reads_the_directory(
    issuer: HostsServer, redis_url: str, namespace: str
) -> None:
    url = serve(issuer, directory(27))
    settings = load(
        WorkerSettings,
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_WORKER_THREADS": "1",
            "PHOENIX_BROKER_URL": redis_url,
            "PHOENIX_REDIS_URL": redis_url,
            "PHOENIX_BROKER_NAMESPACE": namespace,
            "PHOENIX_WORKER_QUEUE": f"{namespace}-jobs",
            "PHOENIX_WORKER_SCHEDULE": "false",
            "PHOENIX_ISSUER_DIRECTORY_URL": url,
            "PHOENIX_ISSUER_KEY_MAX_AGE": "P30D",
        },
    )
    app = create_app(settings)
    schedule = app.state.schedule
    assert [(e.name, e.every_seconds) for e in schedule.entries if e.name == "issuer_keys"] == [
        ("issuer_keys", 3600)
    ]
    with TestClient(app):
        app.state.actors["check_issuer_keys"].send()
        deadline = time.monotonic() + 30
        while not issuer.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        while gauge() != pytest.approx(3, abs=0.1) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [seen.path for seen in issuer.requests] == [PATH]
    assert gauge() == pytest.approx(3, abs=0.1)

"""Each job's last success, interval and failures in ``/metrics``, labelled by its schedule name.

On the real Redis broker and a local hosts server: the blocklist job is the one that runs
without other services. The exposition passes ``promtool check metrics`` and the label sweep."""

from __future__ import annotations

import time
from pathlib import Path

from litestar.testing import TestClient
from prometheus_client import REGISTRY

from phoenix.common.web import ops_app
from phoenix.dev.probes import free_port
from phoenix.settings import load
from phoenix.worker.app import create_app
from phoenix.worker.settings import WorkerSettings
from tests.harness.hosts_server import HostsServer, Served, hosts_file
from tests.harness.scrape import label_leaks, promtool_problems
from tests.integration.worker.test_jobs import wait_until

TASK = "blocklist:base"


def reading(series: str, task: str = TASK) -> float:
    return REGISTRY.get_sample_value(series, {"task": task}) or 0.0


def settings_for(redis_url: str, namespace: str, tmp_path: Path, **extra: str) -> WorkerSettings:
    return load(
        WorkerSettings,
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_WORKER_THREADS": "1",
            "PHOENIX_BROKER": "redis",
            "PHOENIX_BROKER_URL": redis_url,
            "PHOENIX_BROKER_NAMESPACE": namespace,
            "PHOENIX_REDIS_URL": redis_url,
            "PHOENIX_WORKER_QUEUE": f"{namespace}-jobs",
            "PHOENIX_BLOCKLIST_TARGET": f"file://{tmp_path / 'published'}",
            "PHOENIX_WORKER_SCHEDULE": "false",
            "PHOENIX_BLOCKLIST_INTERVAL_SECONDS": "1800",
            **extra,
        },
    )


def test_a_job_that_succeeds_sets_its_last_success_under_its_schedule_name(
    redis_url: str, namespace: str, hosts_server: HostsServer, tmp_path: Path, signing_seed: str
) -> None:
    hosts_server.files["/hosts"] = Served(hosts_file([f"t{i}.ads.example.com" for i in range(50)]))
    settings = settings_for(
        redis_url,
        namespace,
        tmp_path,
        PHOENIX_BLOCKLIST_BASE_URL=hosts_server.url,
        PHOENIX_BLOCKLIST_SIGNING_KEY=signing_seed,
    )
    started = time.time()
    failures = reading("phoenix_worker_job_failures_total")
    app = create_app(settings)
    with TestClient(app):
        app.state.actors["compile_blocklist"].send("base")
        wait_until(lambda: reading("phoenix_worker_job_last_success_timestamp_seconds") >= started)
        with TestClient(ops_app(app)) as ops:
            exposition = ops.get("/metrics").text
    assert reading("phoenix_worker_job_interval_seconds") == 1800
    assert reading("phoenix_worker_job_failures_total") == failures
    assert f'task="{TASK}"' in exposition
    assert label_leaks(exposition, [signing_seed, hosts_server.url, namespace]) == []
    assert promtool_problems(exposition) == ""


def test_a_job_that_fails_counts_each_failed_run_and_keeps_its_last_success(
    redis_url: str, namespace: str, tmp_path: Path, signing_seed: str
) -> None:
    settings = settings_for(
        redis_url,
        namespace,
        tmp_path,
        PHOENIX_BLOCKLIST_BASE_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens
        PHOENIX_BLOCKLIST_SIGNING_KEY=signing_seed,
        PHOENIX_JOB_MAX_RETRIES="1",
        PHOENIX_JOB_MIN_BACKOFF_SECONDS="0.05",
        PHOENIX_JOB_MAX_BACKOFF_SECONDS="0.1",
    )
    last_success = reading("phoenix_worker_job_last_success_timestamp_seconds")
    failures = reading("phoenix_worker_job_failures_total")
    app = create_app(settings)
    with TestClient(app):
        app.state.actors["compile_blocklist"].send("base")
        # The run and its one retry.
        wait_until(lambda: reading("phoenix_worker_job_failures_total") == failures + 2)
    assert reading("phoenix_worker_job_last_success_timestamp_seconds") == last_success

"""Settings of the worker role. It holds no database URL: it talks to other roles over HTTP.

Its Redis is its own: another database than config's by default, and other Secrets Manager ids
(``WORKER_REDIS_URL``, ``WORKER_BROKER_URL``), so a worker is never handed config's credential —
the one that reads spent-token marks and peer streams — by sharing a secret. docs/redis-acl.conf
gives each its own Redis user when they share a server.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from typing import Annotated, Literal

import msgspec

from phoenix.settings import SECRET, CommonSettings, Secret, SettingsError

# Database 1: config keeps database 0 of a local development Redis.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"
DEFAULT_URLS = {
    "redis": DEFAULT_REDIS_URL,
    "rabbitmq": "amqp://guest:guest@127.0.0.1:5672/%2F",
}
STEVENBLACK = "https://raw.githubusercontent.com/StevenBlack/hosts/master"
# The auth role's public issuer directory (RFC 9578 §4) on its development port.
DEV_ISSUER_DIRECTORY = "http://127.0.0.1:8081/.well-known/private-token-issuer-directory"


class WorkerSettings(CommonSettings, kw_only=True, frozen=True):
    broker: Literal["redis", "rabbitmq"] = "redis"
    # Defaults to the local server of the chosen broker.
    broker_url: Annotated[str, Secret("WORKER_BROKER_URL")] = ""
    # Dramatiq's namespace (Redis key prefix) — lets two deployments share one Redis.
    broker_namespace: str = "phoenix"
    worker_threads: int = 4
    # The queue every job goes to (its dead letters: <queue>.XQ).
    worker_queue: str = "phoenix-jobs"
    # Retries with exponential backoff between these bounds, then the dead-letter queue.
    job_max_retries: int = 8
    job_min_backoff_seconds: float = 15.0
    job_max_backoff_seconds: float = 3600.0
    # Schedule locks and the blocklist's HTTP validators live here, whichever the broker is.
    redis_url: Annotated[str, Secret("WORKER_REDIS_URL")] = DEFAULT_REDIS_URL

    # Schedules, in seconds between runs (0: never). Off entirely with worker_schedule=false.
    worker_schedule: bool = True
    blocklist_interval_seconds: int = 3600
    reaper_interval_seconds: int = 60
    canary_interval_seconds: int = 900
    retention_interval_seconds: int = 3600
    # Billing reconciliation (the auth role's, at PHOENIX_AUTH_URL): what lost webhooks missed.
    billing_reconcile_interval_seconds: int = 3600
    issuer_key_check_interval_seconds: int = 3600
    fleet_metrics_interval_seconds: int = 60

    # Issuer key rotation watch: the auth role's public directory; a key signs for at most
    # issuer_key_max_age after its not-before (as the auth role enforces). Warn this many days
    # before the newest listed key's last signing day. Empty URL: no watch.
    issuer_directory_url: str = DEV_ISSUER_DIRECTORY
    issuer_key_max_age: timedelta = timedelta(days=30)
    issuer_key_warn_days: int = 7

    # Blocklist: <base>/hosts for the variant "base", <base>/alternates/<variant>/hosts otherwise.
    blocklist_base_url: str = STEVENBLACK
    blocklist_variants: list[str] = msgspec.field(default_factory=lambda: ["base"])
    # Where filters and manifests go: file:///dir or s3://bucket/prefix. Empty: no blocklist job.
    blocklist_target: str = ""
    # Ed25519 seed (32 bytes, base64) that signs manifests; required with a target.
    blocklist_signing_key: Annotated[str, SECRET] = ""
    blocklist_false_positive_rate: float = 1e-6
    # Guards against a broken upstream: a list that shrinks by more than this share, or grows
    # by more than this factor, against the last published one is refused (the old one stays).
    blocklist_max_shrink: float = 0.5
    blocklist_max_growth: float = 10.0
    blocklist_max_bytes: int = 64 * 1024 * 1024
    blocklist_fetch_timeout: float = 60.0

    # The config role's node API, for the reaper and the canary (monitor credential).
    config_url: str = "http://127.0.0.1:8082"
    monitor_token: Annotated[str, SECRET] = ""
    # none: no reaper; aws: Auto Scaling; local: development nodes by pid file.
    node_provider: Literal["none", "aws", "local"] = "none"
    # Auto Scaling groups whose instances are exit nodes; required with the aws provider, which
    # terminates (and tags) instances in no other group.
    node_aws_groups: list[str] = msgspec.field(default_factory=list)
    # Directory of <public ip>.pid files of development nodes (the local provider).
    node_local_pid_dir: str = ".dev/nodes"
    # Hours after which a node is retired (a drain with reason `retired`); 0: never.
    node_max_age: int = 0
    # Peers per serving node, per location, for the fleet's target tracking: none, or
    # cloudwatch (PutMetricData, namespace Phoenix/Fleet; phoenix.worker.fleet_metrics).
    fleet_metrics: Literal["none", "cloudwatch"] = "none"

    # Reputation canary: DNSBL zones to check nodes' public IPs against (empty: no canary),
    # and the resolver to ask ("host" or "host:port"; empty: the system's).
    canary_zones: list[str] = msgspec.field(default_factory=list)
    canary_resolver: str = ""

    # Retention: each role's own admin endpoint, by role base URL (empty: that target is skipped).
    analytics_url: str = ""
    operator_token: Annotated[str, SECRET] = ""
    auth_url: str = ""
    auth_admin_token: Annotated[str, SECRET] = ""

    def __post_init__(self) -> None:
        if self.env == "prod" and not self.broker_url:
            # Empty means this machine's broker: a development default the generic check of
            # phoenix.production cannot see, because the value it would refuse is not set.
            raise SettingsError("PHOENIX_BROKER_URL", "required in production")
        if self.blocklist_target and not self.blocklist_target.startswith(("file://", "s3://")):
            raise SettingsError("PHOENIX_BLOCKLIST_TARGET", "must be file:///dir or s3://bucket")
        if self.blocklist_target:
            signing_key_seed(self.blocklist_signing_key)
        if not 0.0 < self.blocklist_false_positive_rate < 1.0:
            raise SettingsError("PHOENIX_BLOCKLIST_FALSE_POSITIVE_RATE", "must be in (0, 1)")
        if not 0.0 < self.blocklist_max_shrink < 1.0:
            raise SettingsError("PHOENIX_BLOCKLIST_MAX_SHRINK", "must be in (0, 1)")
        if self.node_provider != "none" and not self.monitor_token:
            raise SettingsError("PHOENIX_MONITOR_TOKEN", "required by the reaper")
        if self.node_provider == "aws" and not self.node_aws_groups:
            raise SettingsError(
                "PHOENIX_NODE_AWS_GROUPS",
                "required with PHOENIX_NODE_PROVIDER=aws: the Auto Scaling groups the reaper "
                "may terminate instances in",
            )
        if self.fleet_metrics != "none" and not self.monitor_token:
            raise SettingsError("PHOENIX_MONITOR_TOKEN", "required by the fleet metrics")
        if self.canary_zones and not self.monitor_token:
            raise SettingsError("PHOENIX_MONITOR_TOKEN", "required by the canary")
        # The same bounds as the auth role's, which enforces the same variable.
        if not timedelta(hours=1) <= self.issuer_key_max_age <= timedelta(days=366):
            raise SettingsError("PHOENIX_ISSUER_KEY_MAX_AGE", "must be between 1 hour and 366 days")
        if self.issuer_key_warn_days < 1:
            raise SettingsError("PHOENIX_ISSUER_KEY_WARN_DAYS", "must be at least 1")
        if self.issuer_directory_url and not self.issuer_directory_url.startswith(
            ("http://", "https://")
        ):
            raise SettingsError("PHOENIX_ISSUER_DIRECTORY_URL", "must be an http(s) URL")

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or DEFAULT_URLS[self.broker]


def signing_key_seed(text: str) -> bytes:
    """The 32-byte Ed25519 seed of PHOENIX_BLOCKLIST_SIGNING_KEY, or a SettingsError."""
    variable = "PHOENIX_BLOCKLIST_SIGNING_KEY"
    if not text:
        raise SettingsError(variable, "required with PHOENIX_BLOCKLIST_TARGET")
    try:
        seed = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise SettingsError(variable, "is not base64") from None
    if len(seed) != 32:
        raise SettingsError(variable, "must be a 32-byte Ed25519 seed, base64-encoded")
    return seed

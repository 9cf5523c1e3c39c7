"""phoenix-node settings: ``PHOENIX_NODE_*`` from the environment or an env file, checked at start.

The bootstrap ``NODE_TOKEN`` is the one secret: ``PHOENIX_NODE_TOKEN``, or a file named by
``PHOENIX_NODE_TOKEN_FILE``, or (``PHOENIX_NODE_SECRETS_SOURCE=aws``) the AWS Secrets Manager secret
``PHOENIX_NODE_AWS_SECRET_ID``. A bad value stops the daemon with one line naming the variable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

PREFIX: Final = "PHOENIX_NODE_"

Backend = Literal["netlink", "uapi"]
InterfaceName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,15}$")]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class SettingsError(Exception):
    """A setting is missing or malformed; ``str()`` is the one line shown to the operator."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class NodeSettings(msgspec.Struct, frozen=True, kw_only=True):
    api_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$")]
    node_token: Annotated[str, msgspec.Meta(min_length=8)]
    region: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}-[a-z0-9]{2,20}$")]
    public_ip: str
    wg_interface: InterfaceName = "wg0"
    egress_interface: InterfaceName = "eth0"
    listen_port: Port = 51820
    key_dir: str = "/run/phoenix-node"
    wg_backend: Backend = "netlink"
    wireguard_go: str = "wireguard-go"
    capacity: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    heartbeat_seconds: Seconds = 10.0
    poll_wait_seconds: Annotated[float, msgspec.Meta(ge=0, le=25)] = 25.0
    request_timeout_seconds: Seconds = 10.0
    active_seconds: Seconds = 180.0
    idle_endpoint_seconds: Seconds = 180.0
    mass_removal_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    mass_removal_confirm_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 30.0
    backoff_max_seconds: Seconds = 60.0
    metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 9586
    firewall: bool = True
    sysctl: bool = True
    ssh_from: str | None = None
    blocked_tcp_ports: tuple[Port, ...] = (25,)
    ipv6_egress: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"


SECRETS: Final = {"node_token"}
SecretFetcher = Callable[[str], str | None]


def variable(field: str) -> str:
    return PREFIX + field.upper().removeprefix("NODE_")  # node_token -> PHOENIX_NODE_TOKEN


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional quotes), as systemd's EnvironmentFile."""
    try:
        text = path.read_text()
    except OSError as error:
        raise SettingsError(str(path), f"cannot read {error.strerror or error}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip().isidentifier():
            raise SettingsError(f"{path}:{number}", "expected KEY=VALUE")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def load(
    environ: Mapping[str, str],
    env_file: Path | None = None,
    fetch_secret: SecretFetcher | None = None,
) -> NodeSettings:
    """Settings from ``env_file`` (if any) overridden by ``environ``."""
    env = {**(read_env_file(env_file) if env_file else {}), **environ}
    source = env.get(PREFIX + "SECRETS_SOURCE", "env")
    if source not in ("env", "aws"):
        raise SettingsError(PREFIX + "SECRETS_SOURCE", "must be 'env' or 'aws'")
    if source == "aws" and fetch_secret is None:
        fetch_secret = aws_secret_fetcher()
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(NodeSettings):
        name = variable(field.name)
        value = _raw(env, name, field.name in SECRETS, fetch_secret)
        if value is None:
            if field.required:
                raise SettingsError(name, "missing (required)")
            continue
        raw[field.name] = _convert(name, value, field.type)
    try:
        settings = msgspec.convert(raw, NodeSettings)
    except msgspec.ValidationError as error:
        path = str(error).rpartition("$.")[2]
        shown = variable(path) if path and path.isidentifier() else PREFIX + "*"
        raise SettingsError(shown, str(error).split(" - at ")[0]) from None
    _check(settings)
    return settings


def _raw(
    env: Mapping[str, str], name: str, secret: bool, fetch: SecretFetcher | None
) -> str | None:
    if name in env:
        return env[name]
    if not secret:
        return None
    if name + "_FILE" in env:
        try:
            return Path(env[name + "_FILE"]).read_text().strip()
        except OSError as error:
            raise SettingsError(name + "_FILE", f"cannot read {error.strerror or error}") from None
    if fetch is not None:
        return fetch(env.get(PREFIX + "AWS_SECRET_ID", "phoenix/NODE_TOKEN"))
    return None


def _convert(name: str, value: str, annotation: Any) -> Any:
    if annotation == tuple[Port, ...]:
        parts: Any = [part.strip() for part in value.split(",") if part.strip()]
    else:
        parts = value
    try:
        return msgspec.convert(parts, type=annotation, strict=False)
    except msgspec.ValidationError as error:
        shown = "<hidden>" if name.endswith("TOKEN") else repr(value)
        raise SettingsError(
            name, f"malformed value {shown}: {str(error).split(' - at ')[0]}"
        ) from None


def _check(settings: NodeSettings) -> None:
    try:
        ipaddress.ip_address(settings.public_ip)
    except ValueError:
        raise SettingsError(variable("public_ip"), "is not an IP address") from None
    if settings.ssh_from is not None:
        try:
            ipaddress.ip_network(settings.ssh_from, strict=False)
        except ValueError:
            raise SettingsError(variable("ssh_from"), "is not a CIDR") from None


def aws_secret_fetcher() -> SecretFetcher:
    """AWS Secrets Manager through boto3 (an optional dependency: ``phoenix-node[aws]``)."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise SettingsError(
            PREFIX + "SECRETS_SOURCE", "'aws' needs boto3 (install phoenix-node[aws])"
        ) from None
    client = boto3.client("secretsmanager")

    def fetch(secret_id: str) -> str | None:
        try:
            answer = client.get_secret_value(SecretId=secret_id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise SettingsError(
                PREFIX + "AWS_SECRET_ID", f"AWS Secrets Manager refused {secret_id!r}"
            ) from None
        except BotoCoreError as error:
            raise SettingsError(
                PREFIX + "AWS_SECRET_ID", f"AWS Secrets Manager unreachable: {error}"
            ) from None
        value = answer.get("SecretString")
        return None if value is None else str(value)

    return fetch

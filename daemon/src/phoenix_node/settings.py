"""phoenix-node settings: ``PHOENIX_NODE_*`` from the environment or an env file, checked at start.

There is no secret shared by the fleet. A node proves who it is with a single-use enrollment
key of its own (``PHOENIX_NODE_ENROLLMENT_KEY``, or a file named by
``PHOENIX_NODE_ENROLLMENT_KEY_FILE``) or, on AWS, with its signed instance identity
(``PHOENIX_NODE_ATTESTATION=aws``); one of the two is required. A bad value stops the daemon
with one line naming the variable, never showing a secret's value.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

PREFIX: Final = "PHOENIX_NODE_"
DEFAULT_KEY_DIR: Final = "/run/phoenix-node"

Backend = Literal["netlink", "uapi"]
InterfaceName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,15}$")]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0, le=86_400)]
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$")]


class SettingsError(Exception):
    """A setting is missing or malformed; ``str()`` is the one line shown to the operator."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


class NodeSettings(msgspec.Struct, frozen=True, kw_only=True):
    api_url: Url
    region: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}-[a-z0-9]{2,20}$")]
    public_ip: str
    # Single-use, issued for this node by an operator; spent by the first registration.
    enrollment_key: Annotated[str, msgspec.Meta(pattern=r"^pnk_\S+$")] | None = None
    attestation: Literal["none", "aws"] = "none"
    imds_url: Url = "http://169.254.169.254"
    wg_interface: InterfaceName = "wg0"
    egress_interface: InterfaceName = "eth0"
    listen_port: Port = 51820
    key_dir: str = DEFAULT_KEY_DIR
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
    # CIDRs SSH may come from (comma-separated); empty: no SSH at all.
    ssh_cidrs: tuple[str, ...] = ()
    blocked_tcp_ports: tuple[Port, ...] = (25,)
    ipv6_egress: bool = False
    # The operator's networks (the VPC, its peers) that clients must not reach, beside the
    # built-in private and special-purpose ranges.
    private_networks: tuple[str, ...] = ()
    # The resolver on the tunnel addresses (Unbound). Upstreams: ``IP[@port][#tls-name]``,
    # Unbound's forward-addr syntax; empty: Unbound resolves from the root servers itself.
    dns: bool = True
    unbound: str = "unbound"
    unbound_control: str = "unbound-control"
    dns_upstreams: tuple[str, ...] = ()
    dns_upstream_tls: bool = False
    # A root trust anchor file (Debian /usr/share/dns/root.key, Alpine
    # /usr/share/dnssec-root/trusted-key.key): with one, answers are DNSSEC-validated.
    dns_trust_anchor: str = ""
    # Where the worker publishes blocklists (``<url>/<variant>/manifest.json``) and the Ed25519
    # key (base64) that signs their manifests; without both, blocking variants answer unfiltered.
    blocklist_url: Url | None = None
    blocklist_key: str | None = None
    blocklist_refresh_seconds: Seconds = 900.0
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def __repr__(self) -> str:  # a traceback or a debug print never shows the enrollment key
        shown = {name: getattr(self, name) for name in self.__struct_fields__}
        if shown["enrollment_key"] is not None:
            shown["enrollment_key"] = "<hidden>"
        return f"NodeSettings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


SECRETS: Final = {"enrollment_key"}


def variable(field: str) -> str:
    return PREFIX + field.upper()  # enrollment_key -> PHOENIX_NODE_ENROLLMENT_KEY


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``#`` comments, optional quotes), as systemd's EnvironmentFile."""
    try:
        text = path.read_text()
    except OSError as error:
        raise SettingsError(str(path), f"cannot read it: {error.strerror or error}") from None
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


def merged(environ: Mapping[str, str], env_file: Path | None = None) -> dict[str, str]:
    """The variables of ``env_file`` (if any) overridden by ``environ``."""
    return {**(read_env_file(env_file) if env_file else {}), **environ}


def load(environ: Mapping[str, str], env_file: Path | None = None) -> NodeSettings:
    """Settings from ``env_file`` (if any) overridden by ``environ``."""
    env = merged(environ, env_file)
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(NodeSettings):
        name = variable(field.name)
        secret = field.name in SECRETS
        value = _raw(env, name, secret)
        if value is None:
            if field.required:
                raise SettingsError(name, "missing (required)")
            continue
        raw[field.name] = _convert(name, value, field.type, secret)
    try:
        settings = msgspec.convert(raw, NodeSettings)
    except msgspec.ValidationError as error:
        path = str(error).rpartition("$.")[2]
        shown = variable(path) if path and path.isidentifier() else PREFIX + "*"
        raise SettingsError(shown, str(error).split(" - at ")[0]) from None
    _check(settings)
    return settings


FIREWALL_FIELDS: Final = (
    "wg_interface",
    "egress_interface",
    "listen_port",
    "ssh_cidrs",
    "blocked_tcp_ports",
    "ipv6_egress",
    "private_networks",
)


def firewall_values(environ: Mapping[str, str], env_file: Path | None = None) -> dict[str, Any]:
    """Only the ruleset's settings, checked as ``load`` checks them: the boot renders the
    ruleset from the deployment's settings before the node's own (address, region) exist."""
    env = merged(environ, env_file)
    fields = {field.name: field for field in msgspec.structs.fields(NodeSettings)}
    values: dict[str, Any] = {}
    for name in FIREWALL_FIELDS:
        value = _raw(env, variable(name), secret=False)
        if value is not None:
            values[name] = _convert(variable(name), value, fields[name].type, secret=False)
    _check_cidrs(values)
    return values


def _check_cidrs(values: Mapping[str, Any]) -> None:
    for name in ("ssh_cidrs", "private_networks"):
        for cidr in values.get(name, ()):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise SettingsError(variable(name), f"{cidr!r} is not a CIDR") from None


def key_dir(environ: Mapping[str, str], env_file: Path | None = None) -> Path:
    """Only ``PHOENIX_NODE_KEY_DIR`` (or its default): ``forget`` must work whatever the rest is."""
    return Path(merged(environ, env_file).get(variable("key_dir"), DEFAULT_KEY_DIR))


def _raw(env: Mapping[str, str], name: str, secret: bool) -> str | None:
    if name in env:
        return env[name]
    if not secret:
        return None
    if name + "_FILE" in env:
        try:
            return Path(env[name + "_FILE"]).read_text().strip()
        except OSError as error:
            raise SettingsError(
                name + "_FILE", f"cannot read it: {error.strerror or error}"
            ) from None
    return None


def _convert(name: str, value: str, annotation: Any, secret: bool) -> Any:
    if getattr(annotation, "__origin__", None) is tuple:  # a comma-separated list
        parts: Any = [part.strip() for part in value.split(",") if part.strip()]
    else:
        parts = value
    try:
        return msgspec.convert(parts, type=annotation, strict=False)
    except msgspec.ValidationError as error:
        shown = "<hidden>" if secret else repr(value)
        raise SettingsError(
            name, f"malformed value {shown}: {str(error).split(' - at ')[0]}"
        ) from None


def _check(settings: NodeSettings) -> None:
    if settings.enrollment_key is None and settings.attestation == "none":
        raise SettingsError(
            variable("enrollment_key"),
            f"missing (required unless {variable('attestation')}=aws)",
        )
    try:
        ipaddress.ip_address(settings.public_ip)
    except ValueError:
        raise SettingsError(variable("public_ip"), "is not an IP address") from None
    _check_cidrs(msgspec.structs.asdict(settings))
    for upstream in settings.dns_upstreams:
        address = upstream.partition("#")[0].partition("@")[0]
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise SettingsError(
                variable("dns_upstreams"), f"{upstream!r} is not IP[@port][#name]"
            ) from None
    if settings.blocklist_key is not None:
        try:
            key = base64.b64decode(settings.blocklist_key, validate=True)
        except binascii.Error:
            key = b""
        if len(key) != 32:
            raise SettingsError(variable("blocklist_key"), "is not a base64 Ed25519 public key")

"""The WireGuard client config ``/v1/connect`` hands back: JSON, or a wg-quick file (pure).

Two key modes (issue 6, item 8):

- **client-generated** (the request carried ``public_key``): the server never sees the private
  key. JSON has no ``interface.private_key``; the wg-quick file has a commented-out
  ``# PrivateKey = <your private key>`` line for the client to fill in. A comment, not a
  placeholder value, so that the file stays valid wg-quick syntax and the missing key is said in
  words where a user looks for it.
- **server-generated** (the request carried ``box_public_key``): :func:`seal_new_keypair` makes
  an X25519 pair and seals the private key to the client's NaCl box key. The server only ever
  hands out — and only has, once that call returns — the sealed form. So ``interface.private_key``
  in JSON is the *sealed* private key (base64 of a NaCl sealed box whose plaintext is the
  WireGuard private key in base64), and the wg-quick file carries it in a
  ``# SealedPrivateKey = …`` comment with instructions; the client opens it with its box
  private key and writes the ``PrivateKey`` line itself. A sealed box (rather than the plain key
  over TLS) keeps the key out of anything that sees the response body: TLS-terminating proxies,
  response logs, crash reports.

The wg-quick file also carries the lease expiry as an ``# ExpiresAt = …`` comment: wg-quick
ignores comments, and :func:`parse_wg_quick` reads both comment fields back, so the text form
round-trips to the same :class:`WireGuardConfig` as the JSON form.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, NamedTuple

import msgspec
import nacl.exceptions
import nacl.public

from phoenix.crypto.wireguard import encode_key, generate_keypair, parse_key

ALLOWED_IPS: Final[tuple[str, ...]] = ("0.0.0.0/0", "::/0")  # the whole tunnel, both families
# Keeps NAT and stateful-firewall mappings open so that the node can reach an idle client (25 s is
# what wg(8) suggests for peers behind NAT).
PERSISTENT_KEEPALIVE: Final = 25
BOX_KEY_BYTES: Final = nacl.public.PublicKey.SIZE

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInput = str | IPAddress | ipaddress.IPv4Interface | ipaddress.IPv6Interface


class WireGuardInterface(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The client's side of the tunnel."""

    addresses: list[str]  # the client's tunnel IPv4 as /32 and IPv6 as /128
    dns: list[str]
    # Only with server-generated keys, and then SEALED: base64 of a NaCl sealed box (to the
    # client's box key) holding the WireGuard private key in base64. Omitted from JSON otherwise.
    private_key: str | None = None


class WireGuardPeer(msgspec.Struct, frozen=True, kw_only=True):
    """The exit node."""

    public_key: str  # the node's WireGuard public key, base64
    endpoint: str  # "ip:port"; an IPv6 address in brackets: "[2001:db8::1]:51820"
    allowed_ips: list[str]
    persistent_keepalive: int


class WireGuardConfig(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of ``/v1/connect``, as JSON; :func:`render_wg_quick` gives the text form."""

    interface: WireGuardInterface
    peer: WireGuardPeer
    # RFC 3339, UTC, whole seconds: "2025-01-31T12:00:00Z"; a lease's is on the hour
    # (phoenix.config.leases.ends_on_the_hour), so it does not tell when the client connected.
    expires_at: str


class InvalidBoxKey(ValueError):
    """The client's box public key cannot be sealed to (wrong size, or a low-order point)."""


class SealedKeyPair(NamedTuple):
    """A server-generated WireGuard key pair, whose private half exists only sealed."""

    public_key: bytes  # raw 32 bytes, for the lease and the node's peer list
    sealed_private_key: bytes  # NaCl sealed box of the base64 WireGuard private key
    sealed_private_key_b64: str  # the same, base64: ``WireGuardInterface.private_key``


def seal_new_keypair(box_public_key: bytes) -> SealedKeyPair:
    """Make an X25519 pair and seal its private key to ``box_public_key`` (32-byte NaCl key).

    The plaintext private key lives only in this call's locals and is dropped before it returns;
    it is never logged, stored in an attribute, or put in an exception. Python cannot overwrite
    immutable ``bytes``, so "forgotten" means that nothing reachable refers to it any more.
    Raises :class:`InvalidBoxKey` (carrying neither key) when sealing is impossible.
    """
    if len(box_public_key) != BOX_KEY_BYTES:
        raise InvalidBoxKey(
            f"a box public key is {BOX_KEY_BYTES} bytes, this is {len(box_public_key)}"
        )
    box = nacl.public.SealedBox(nacl.public.PublicKey(box_public_key))
    private, public = generate_keypair()
    sealed: bytes | None
    try:
        sealed = box.encrypt(base64.b64encode(private))
    except nacl.exceptions.CryptoError:
        # libsodium refuses a low-order point (e.g. all zeros). Raise outside this handler: an
        # exception raised here would chain the library's, whose traceback frames hold the
        # plaintext as a local, and error reporters that capture locals would ship it.
        sealed = None
    finally:
        del private
    if sealed is None:
        raise InvalidBoxKey("cannot seal to this box public key")
    return SealedKeyPair(public, sealed, base64.b64encode(sealed).decode("ascii"))


def build_config(
    *,
    ipv4: IPInput,
    ipv6: IPInput,
    dns: Sequence[str],
    node_public_key: bytes,
    node_address: IPInput,
    node_port: int,
    expires_at: datetime,
    sealed_private_key: str | None = None,
) -> WireGuardConfig:
    """The config for one lease. Addresses may be strings or ``ipaddress`` objects (psycopg
    gives INET columns as the latter); ``sealed_private_key`` is
    :attr:`SealedKeyPair.sealed_private_key_b64` with server-generated keys, else None."""
    (v4, client_v4), (v6, client_v6) = _host(ipv4), _host(ipv6)
    if v4 != 4 or v6 != 6:
        raise ValueError("ipv4 must be an IPv4 and ipv6 an IPv6 address")
    return WireGuardConfig(
        interface=WireGuardInterface(
            addresses=[f"{client_v4}/32", f"{client_v6}/128"],
            dns=[_host(server)[1] for server in dns],
            private_key=sealed_private_key,
        ),
        peer=WireGuardPeer(
            public_key=encode_key(node_public_key),
            endpoint=format_endpoint(node_address, node_port),
            allowed_ips=list(ALLOWED_IPS),
            persistent_keepalive=PERSISTENT_KEEPALIVE,
        ),
        expires_at=rfc3339_utc(expires_at),
    )


def format_endpoint(address: IPInput, port: int) -> str:
    """``ip:port``, with an IPv6 address in brackets (as wg(8) and URLs write it)."""
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is out of range")
    version, host = _host(address)
    return f"[{host}]:{port}" if version == 6 else f"{host}:{port}"


def rfc3339_utc(moment: datetime) -> str:
    """``2025-01-31T12:00:00Z``. Fractions of a second are cut, so the client's idea of the
    expiry is never later than the server's."""
    if moment.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    # isoformat cuts the fraction as well, in under half strftime's time (one a connect).
    return moment.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


def _host(value: IPInput) -> tuple[int, str]:
    """The address's version and its canonical text; ValueError for anything else."""
    # Interfaces first: IPv4Interface is a subclass of IPv4Address, but prints its prefix.
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return value.version, str(value.ip)
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value.version, str(value)
    if "/" not in value:
        # Three addresses a connect, as PostgreSQL's host() prints them: the C functions check
        # and print one in well under a microsecond, ipaddress in about ten (measured, bench
        # config). An IPv6 address printed with an IPv4 tail ("::ffff:0.0.0.0") is one that
        # ipaddress prints otherwise: it takes the general path below.
        for family, version in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
            try:
                text = socket.inet_ntop(family, socket.inet_pton(family, value))
            except (OSError, ValueError):
                continue
            if version == 4 or "." not in text:
                return version, text
    address = ipaddress.ip_interface(value).ip  # "10.0.0.2/32", and the rare forms above
    return address.version, str(address)


# --- wg-quick text -------------------------------------------------------------------------

_HEADER: Final = (
    "# Phoenix WireGuard config. The lease ends at ExpiresAt; connect again before then."
)
_CLIENT_KEY_NOTE: Final = (
    "# Your private key never left your device: put it here and remove the leading '#'.\n"
    "# PrivateKey = <your private key>"
)
_SEALED_KEY_NOTE: Final = (
    "# The server generated your key pair and sealed the private key to your box key (NaCl\n"
    "# sealed box). Open SealedPrivateKey with your box private key and write the result here\n"
    "# as: PrivateKey = <opened key>"
)
# The two fields carried in comments, which wg-quick ignores and parse_wg_quick reads.
_META = re.compile(r"^#\s*(ExpiresAt|SealedPrivateKey)\s*=\s*(\S+)\s*$")
_LIST_KEYS: Final = frozenset({"address", "dns", "allowedips"})


def render_wg_quick(config: WireGuardConfig) -> str:
    """The config as a wg-quick(8) file (what ``Accept: text/plain`` gets)."""
    interface, peer = config.interface, config.peer
    lines = [_HEADER, f"# ExpiresAt = {config.expires_at}", "", "[Interface]"]
    if interface.private_key is None:
        lines.append(_CLIENT_KEY_NOTE)
    else:
        lines += [_SEALED_KEY_NOTE, f"# SealedPrivateKey = {interface.private_key}"]
    lines.append(f"Address = {', '.join(interface.addresses)}")
    if interface.dns:
        lines.append(f"DNS = {', '.join(interface.dns)}")
    lines += [
        "",
        "[Peer]",
        f"PublicKey = {peer.public_key}",
        f"Endpoint = {peer.endpoint}",
        f"AllowedIPs = {', '.join(peer.allowed_ips)}",
        f"PersistentKeepalive = {peer.persistent_keepalive}",
    ]
    return "\n".join(lines) + "\n"


class WgQuickError(ValueError):
    """The text is not a wg-quick file of the shape :func:`render_wg_quick` writes."""


def parse_wg_quick(text: str) -> WireGuardConfig:
    """Read a file written by :func:`render_wg_quick` back into a :class:`WireGuardConfig`.

    As wg-quick does: section names and keys are case-insensitive, ``#`` starts a comment, and a
    list key may repeat or hold comma-separated values. Stricter than wg-quick: one
    ``[Interface]`` and one ``[Peer]``, no keys we do not write, and no plaintext ``PrivateKey``
    (a config this server renders never holds one).
    """
    sections: dict[str, dict[str, list[str]]] = {}
    meta: dict[str, str] = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            match = _META.match(line)
            if match is not None:
                name, value = match.groups()
                if name in meta:
                    raise WgQuickError(f"line {number}: {name} given twice")
                meta[name] = value
            continue
        line = line.partition("#")[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            name = line[1:-1].strip().lower()
            if name not in ("interface", "peer"):
                raise WgQuickError(f"line {number}: unknown section {line}")
            if name in sections:
                raise WgQuickError(f"line {number}: a second [{name}] section")
            section = sections[name] = {}
            continue
        key, equals, value = line.partition("=")
        key, value = key.strip().lower(), value.strip()
        if section is None or not equals or not key:
            raise WgQuickError(f"line {number}: expected 'Key = Value' inside a section")
        if key == "privatekey":
            raise WgQuickError(f"line {number}: a plaintext PrivateKey is never in our configs")
        values = [part.strip() for part in value.split(",")] if key in _LIST_KEYS else [value]
        section.setdefault(key, []).extend(values)
    interface, peer = sections.get("interface"), sections.get("peer")
    if interface is None or peer is None:
        raise WgQuickError("an [Interface] and a [Peer] section are required")
    _only(interface, {"address", "dns"}, "Interface")
    _only(peer, {"publickey", "endpoint", "allowedips", "persistentkeepalive"}, "Peer")
    if "ExpiresAt" not in meta:
        raise WgQuickError("the ExpiresAt comment is missing")
    keepalive = _single(peer, "persistentkeepalive")
    if not keepalive.isdigit():
        raise WgQuickError(f"PersistentKeepalive is not a number of seconds: {keepalive!r}")
    public_key = _single(peer, "publickey")
    try:
        parse_key(public_key)
    except ValueError as error:
        raise WgQuickError(f"PublicKey: {error}") from None
    return WireGuardConfig(
        interface=WireGuardInterface(
            addresses=_required(interface, "address"),
            dns=interface.get("dns", []),
            private_key=meta.get("SealedPrivateKey"),
        ),
        peer=WireGuardPeer(
            public_key=public_key,
            endpoint=_single(peer, "endpoint"),
            allowed_ips=_required(peer, "allowedips"),
            persistent_keepalive=int(keepalive),
        ),
        expires_at=meta["ExpiresAt"],
    )


def _only(section: dict[str, list[str]], allowed: set[str], name: str) -> None:
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise WgQuickError(f"[{name}] has keys we never write: {', '.join(unknown)}")


def _required(section: dict[str, list[str]], key: str) -> list[str]:
    values = section.get(key)
    if not values or not all(values):
        raise WgQuickError(f"{key} is missing or empty")
    return values


def _single(section: dict[str, list[str]], key: str) -> str:
    values = _required(section, key)
    if len(values) != 1:
        raise WgQuickError(f"{key} is given {len(values)} times")
    return values[0]

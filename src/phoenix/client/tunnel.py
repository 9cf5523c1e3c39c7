"""`connect`: redeem one token at the config role for a WireGuard config, and write it out.

By default the client makes its WireGuard key pair and sends only the public key. With
`--server-keys` it sends a NaCl box key instead; the server makes the pair and hands back the
private key sealed to that box key, which only this client can open.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx
import nacl.exceptions
import nacl.public

from phoenix.client.endpoints import Endpoints, call
from phoenix.client.errors import ClientError
from phoenix.client.wallet import StoredToken, load_wallet, save_wallet
from phoenix.crypto.privacypass.base64url import b64url_decode
from phoenix.crypto.privacypass.headers import build_authorization
from phoenix.crypto.wireguard import encode_key, generate_keypair

# A token the server refused for these reasons can never be redeemed: drop it from the wallet.
USELESS = frozenset({"token-spent", "invalid-token"})


@dataclass(frozen=True)
class Tunnel:
    private_key: str
    addresses: list[str]
    dns: list[str]
    peer_public_key: str
    endpoint: str
    allowed_ips: list[str]
    keepalive: int
    expires_at: str

    def wg_quick(self) -> str:
        lines = [
            "# Phoenix WireGuard config (phoenix-client)",
            f"# ExpiresAt = {self.expires_at}",
            "",
            "[Interface]",
            f"PrivateKey = {self.private_key}",
            f"Address = {', '.join(self.addresses)}",
        ]
        if self.dns:
            lines.append(f"DNS = {', '.join(self.dns)}")
        lines += [
            "",
            "[Peer]",
            f"PublicKey = {self.peer_public_key}",
            f"Endpoint = {self.endpoint}",
            f"AllowedIPs = {', '.join(self.allowed_ips)}",
            f"PersistentKeepalive = {self.keepalive}",
        ]
        return "\n".join(lines) + "\n"


def _take(endpoints: Endpoints) -> StoredToken:
    wallet = load_wallet(endpoints.home)
    if not wallet.tokens:
        raise ClientError("no tokens left: run phoenix-client tokens fetch --count 10")
    return wallet.tokens[0]


def _drop(endpoints: Endpoints, token: StoredToken) -> None:
    wallet = load_wallet(endpoints.home)
    wallet.tokens = [t for t in wallet.tokens if t != token]
    save_wallet(endpoints.home, wallet)


def connect(
    http: httpx.Client,
    endpoints: Endpoints,
    location: str,
    *,
    server_keys: bool,
    dns: str | None = None,
) -> Tunnel:
    token = _take(endpoints)
    body: dict[str, str] = {"location": location}
    if dns is not None:
        body["dns"] = dns  # a blocking variant: the config's DNS is the node's filtered resolver
    if server_keys:
        box = nacl.public.PrivateKey.generate()
        body["box_public_key"] = base64.b64encode(bytes(box.public_key)).decode()
        private_key = ""
    else:
        private, public = generate_keypair()
        body["public_key"] = encode_key(public)
        private_key = encode_key(private)
    try:
        answer = call(
            http,
            "config",
            "POST",
            endpoints.config + "/v1/connect",
            json=body,
            headers={"authorization": build_authorization(b64url_decode(token.token))},
        )
    except ClientError as error:
        if error.slug in USELESS:
            _drop(endpoints, token)
        raise
    _drop(endpoints, token)  # spent: the server committed the lease
    config = _config(answer)
    if server_keys:
        private_key = _open_sealed(box, config["interface"].get("private_key"))
    try:
        return Tunnel(
            private_key=private_key,
            addresses=list(config["interface"]["addresses"]),
            dns=list(config["interface"].get("dns", [])),
            peer_public_key=str(config["peer"]["public_key"]),
            endpoint=str(config["peer"]["endpoint"]),
            allowed_ips=list(config["peer"]["allowed_ips"]),
            keepalive=int(config["peer"]["persistent_keepalive"]),
            expires_at=str(config["expires_at"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ClientError(f"config answered an unexpected WireGuard config ({error})") from None


def _config(answer: httpx.Response) -> dict[str, Any]:
    try:
        config: dict[str, Any] = answer.json()
        config["interface"]["addresses"]
    except (ValueError, KeyError, TypeError):
        raise ClientError("config answered something that is not a WireGuard config") from None
    return config


def _open_sealed(box: nacl.public.PrivateKey, sealed: object) -> str:
    if not isinstance(sealed, str):
        raise ClientError("config answered no sealed private key for --server-keys")
    try:
        opened = nacl.public.SealedBox(box).decrypt(base64.b64decode(sealed, validate=True))
        return opened.decode("ascii")
    except (nacl.exceptions.CryptoError, ValueError):
        raise ClientError("the sealed private key config answered cannot be opened") from None

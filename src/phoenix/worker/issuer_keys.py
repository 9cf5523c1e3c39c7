"""The issuer key watch: warns days before the issuer runs out of a key it may sign with.

The auth role signs with a key for at most ``PHOENIX_ISSUER_KEY_MAX_AGE`` after its not-before
(a key's life is bounded so that old tokens and their spent marks can go: RFC 9578 §8,
RFC 9576). A rotation lists the next key ahead of its not-before. If nobody rotates, the issuer
stops signing on the newest key's last day — so this job reads the issuer's public directory
(RFC 9578 §4), exactly as any client may, and reports until when the newest listed key can
still sign: on every run as a gauge, and, when that falls within ``PHOENIX_ISSUER_KEY_WARN_DAYS``
(no successor is listed), as a warning line. Nothing here knows about users: the directory holds
public keys and times only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import httpx
import msgspec
from prometheus_client import Gauge

from phoenix.common.logging import get_logger
from phoenix.crypto.privacypass.token_key import TokenKey

_log = get_logger("phoenix.worker.issuer_keys")

TOKEN_TYPE_BLIND_RSA: Final = 2
SECONDS_PER_DAY: Final = 86_400
MAX_DIRECTORY_BYTES: Final = 64 * 1024  # a handful of 2048-bit keys; anything larger is wrong

# A timestamp, not "days left" (Prometheus's base units, and an alert sees the time run out
# even when this job stops running): days left is (this - time()) / 86400 in a rule.
LAST_SIGNING = Gauge(
    "phoenix_worker_issuer_key_last_signing_timestamp_seconds",
    "Unix time after which the newest key in the issuer directory may no longer sign "
    "(not-before + PHOENIX_ISSUER_KEY_MAX_AGE); alert well before it",
    # Whichever worker process ran the job last knows best.
    multiprocess_mode="mostrecent",
)


class DirectoryUnusable(Exception):
    """The directory could not be read or lists no dated type-2 key; the job fails (retried)."""


class _Entry(msgspec.Struct, rename="kebab"):
    token_type: int
    token_key: str
    not_before: int | None = None


class _Directory(msgspec.Struct, rename="kebab"):
    issuer_request_uri: str
    token_keys: list[_Entry]


@dataclass(frozen=True)
class ListedKey:
    not_before: int  # Unix seconds
    truncated_id: int  # the last byte of its token_key_id (RFC 9578 §6.1), as auth logs it


@dataclass(frozen=True)
class Outlook:
    """What the directory says about signing: the key in effect and when signing must stop."""

    current: ListedKey | None  # the newest key already in effect (None: none yet)
    newest: ListedKey  # the key listed with the latest not-before (may be `current`)
    last_signing: float  # Unix seconds: `newest`'s not-before + max age
    days_left: float


def listed_keys(body: bytes) -> list[ListedKey]:
    """The dated type-2 keys of a directory body; raises DirectoryUnusable when there are none.

    A key without a not-before has no knowable age and is left out (the auth role dates all).
    """
    try:
        directory = msgspec.json.decode(body, type=_Directory)
    except msgspec.DecodeError as error:
        raise DirectoryUnusable(f"not an issuer directory: {error}") from None
    keys: list[ListedKey] = []
    for entry in directory.token_keys:
        if entry.token_type != TOKEN_TYPE_BLIND_RSA or entry.not_before is None:
            continue
        try:
            token_key = TokenKey.from_base64url(entry.token_key)
        except ValueError:  # DecodeError is one: an undecodable key is skipped as config does
            continue
        keys.append(ListedKey(entry.not_before, token_key.truncated_token_key_id))
    if not keys:
        raise DirectoryUnusable("the directory lists no type-2 key with a not-before")
    return keys


def outlook(keys: list[ListedKey], max_age: timedelta, now: float) -> Outlook:
    """Pure: the key in effect at ``now``, the newest listed one, and the days it may sign."""
    in_effect = [key for key in keys if key.not_before <= now]
    current = max(in_effect, key=lambda key: key.not_before) if in_effect else None
    newest = max(keys, key=lambda key: key.not_before)
    last_signing = newest.not_before + max_age.total_seconds()
    return Outlook(current, newest, last_signing, (last_signing - now) / SECONDS_PER_DAY)


class IssuerKeyWatch:
    def __init__(
        self,
        http: httpx.Client,
        directory_url: str,
        max_age: timedelta,
        warn_days: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.directory_url = directory_url
        self.max_age = max_age
        self.warn_days = warn_days
        self.clock = clock

    def fetch(self) -> list[ListedKey]:
        try:
            answer = self.http.get(self.directory_url)
        except httpx.HTTPError as error:
            raise DirectoryUnusable(f"cannot fetch the directory: {type(error).__name__}") from None
        if answer.status_code != 200:
            raise DirectoryUnusable(f"the directory answered {answer.status_code}")
        if len(answer.content) > MAX_DIRECTORY_BYTES:
            raise DirectoryUnusable(f"the directory is larger than {MAX_DIRECTORY_BYTES} bytes")
        return listed_keys(answer.content)

    def run(self) -> str:
        """One check: set the gauge; warn when the issuer's last signing day is near."""
        seen = outlook(self.fetch(), self.max_age, self.clock())
        LAST_SIGNING.set(seen.last_signing)
        if seen.days_left <= self.warn_days:
            # Only public facts: the key's truncated id and dates, never anything about users.
            key = seen.current or seen.newest
            _log.warning(
                "issuer_key_rotation_due",
                days_left=round(seen.days_left, 1),
                truncated_key_id=key.truncated_id,
                not_before=_iso(key.not_before),
                last_signing=_iso(seen.last_signing),
                hint="add the next key: phoenix issuer rotate",
            )
            return f"rotation due: {seen.days_left:.1f} days of signing left"
        return f"{seen.days_left:.1f} days of signing left"


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")

"""The auth role's Privacy Pass issuer directory (RFC 9578 §4), as the config role sees it.

Config learns issuer keys only by fetching the public directory over HTTP: it never holds a
signing key and never imports auth code. `IssuerDirectoryClient` fetches it once at start, then
refreshes it every `refresh_seconds` with `If-None-Match` (a 304 keeps the current copy). When the
issuer is unreachable or answers something that is not a usable directory, the last good copy
stays in force and the client retries with exponential backoff; before the first good copy the
client is not ready (the role's readiness check says so) and redemption answers 503.

The loop is one visible task: fetch → keep or replace → sleep (refresh interval, or backoff after
a failure). The copy in use is an immutable `IssuerDirectory`, replaced whole, so readers never
see half an update.

What the issuer lists is not taken on faith (`KeyPolicy`): a key is accepted only from its
not-before until its life (max age + overlap) is over, so a token cannot outlive its spent mark
whatever the directory says; a directory listing more keys than a handful is refused, since an
issuer could hand each key to a few users and tell them apart at redemption (RFC 9576 §6.2);
an operator may pin the key ids; and the last good copy is used only for a bounded number of
refresh intervals, after which redemption fails closed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Self

import httpx
import msgspec
from prometheus_client import Counter, Gauge

from phoenix.common import background
from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem
from phoenix.config.settings import ConfigSettings
from phoenix.crypto.privacypass.errors import DecodeError
from phoenix.crypto.privacypass.structures import TOKEN_TYPE_BLIND_RSA
from phoenix.crypto.privacypass.token_key import TokenKey

__all__ = [
    "DIRECTORY_MEDIA_TYPE",
    "DirectoryEntry",
    "InvalidDirectory",
    "IssuerDirectory",
    "IssuerDirectoryClient",
    "IssuerDirectoryUnavailable",
    "KeyPolicy",
    "parse_directory",
]

DIRECTORY_MEDIA_TYPE: Final = "application/private-token-issuer-directory"
# A directory lists a handful of keys (about 400 bytes each); anything far larger is not one.
MAX_DIRECTORY_BYTES: Final = 256 * 1024

_log = get_logger("phoenix.config.directory")
# Exported as timestamps (docs/metrics.md): an alert sees the copy age even when this stops.
_DIRECTORY_REFRESHED = Gauge(
    "phoenix_config_directory_refresh_timestamp_seconds",
    "Unix time of the last good read (200 or 304) of auth's issuer directory",
    multiprocess_mode="max",
)
_DIRECTORY_FAILURES = Counter(
    "phoenix_config_directory_refresh_failures",
    "Reads of auth's issuer directory that failed",
)


class InvalidDirectory(ValueError):
    """A response body that is not an issuer directory with at least one usable type-2 key."""


class IssuerDirectoryUnavailable(Problem):
    """No copy of the issuer directory yet: tokens cannot be checked, so none is refused either."""

    status = 503
    slug = "issuer-directory-unavailable"
    title = "Token keys are not available yet"

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


@dataclass(frozen=True)
class KeyPolicy:
    """What config accepts of a directory; see the module docstring."""

    # Seconds after its not-before that a key's tokens are accepted (max age + overlap).
    life: int = (30 + 3) * 86_400
    max_keys: int = 3
    # Token key ids (SHA-256 of the SPKI) that alone are accepted; empty: any listed key.
    pinned: frozenset[bytes] = frozenset()
    # Clock difference tolerated between the issuer and us around a key's not-before.
    skew: int = 300

    @classmethod
    def from_settings(cls, settings: ConfigSettings) -> KeyPolicy:
        return cls(
            life=int(settings.key_life.total_seconds()),
            max_keys=settings.issuer_max_keys,
            pinned=frozenset(bytes.fromhex(key_id) for key_id in settings.issuer_pinned_key_ids),
        )


DEFAULT_POLICY: Final = KeyPolicy()


# --- the document (RFC 9578 §4) --------------------------------------------------------------


class _Document(msgspec.Struct, rename="kebab"):
    """The outer object; entries are decoded one by one so one odd entry spoils nothing."""

    issuer_request_uri: str
    token_keys: list[msgspec.Raw]


class _Entry(msgspec.Struct, rename="kebab"):
    token_type: int
    token_key: str
    not_before: int | None = None


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    token_key: TokenKey
    not_before: int  # Unix seconds
    accepted_until: int  # Unix seconds: not-before + the key's life; its marks live as long

    def accepts_at(self, now: float, skew: int = 0) -> bool:
        return self.not_before - skew <= now < self.accepted_until


@dataclass(frozen=True)
class IssuerDirectory:
    """One good copy of the directory: the type-2 keys in the issuer's preference order."""

    issuer_request_uri: str
    entries: tuple[DirectoryEntry, ...]
    # What was left out and why (other token types, undecodable keys), for the log only.
    skipped: tuple[str, ...] = ()
    skew: int = DEFAULT_POLICY.skew
    _by_id: Mapping[bytes, DirectoryEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id = {entry.token_key.token_key_id: entry for entry in self.entries}
        object.__setattr__(self, "_by_id", by_id)

    def ready(self) -> bool:
        return True

    def entry_for(self, token_key_id: bytes, now: float | None = None) -> DirectoryEntry | None:
        """The listed key with this id, if its tokens are accepted at ``now``."""
        entry = self._by_id.get(token_key_id)
        moment = time.time() if now is None else now
        return entry if entry is not None and entry.accepts_at(moment, self.skew) else None

    def key_for(self, token_key_id: bytes, now: float | None = None) -> TokenKey | None:
        entry = self.entry_for(token_key_id, now)
        return None if entry is None else entry.token_key

    def keys(self) -> list[TokenKey]:
        """Every listed type-2 key, most preferred first (RFC 9578 §4: the issuer's order)."""
        return [entry.token_key for entry in self.entries]

    def preferred_key(self, now: float | None = None) -> TokenKey | None:
        """The key clients should fetch tokens under: the first listed one in effect.

        Falls back to the first listed key when every key is announced for later.
        """
        moment = time.time() if now is None else now
        for entry in self.entries:
            if entry.not_before <= moment < entry.accepted_until:
                return entry.token_key
        return self.entries[0].token_key if self.entries else None


def parse_directory(body: bytes, policy: KeyPolicy = DEFAULT_POLICY) -> IssuerDirectory:
    """Decode a directory body, keeping the type-2 keys it lists in their order.

    Entries of other token types, keys that are not a canonical RSASSA-PSS SPKI of a 2048-bit
    key, keys without a not-before (their life could not be bounded) and keys not pinned by
    `policy` are skipped (and named in `skipped`). Raises InvalidDirectory when the body is not
    a directory at all, lists no usable type-2 key, or lists more than `policy.max_keys`.
    """
    try:
        document = msgspec.json.decode(body, type=_Document)
    except msgspec.DecodeError as error:
        raise InvalidDirectory(f"not an issuer directory: {error}") from None
    entries: list[DirectoryEntry] = []
    skipped: list[str] = []
    seen: set[bytes] = set()
    for index, raw in enumerate(document.token_keys):
        try:
            entry = msgspec.json.decode(raw, type=_Entry)
        except msgspec.DecodeError as error:
            skipped.append(f"entry {index}: {error}")
            continue
        if entry.token_type != TOKEN_TYPE_BLIND_RSA:
            skipped.append(f"entry {index}: token type {entry.token_type}")
            continue
        try:
            token_key = TokenKey.from_base64url(entry.token_key)
        except DecodeError as error:
            skipped.append(f"entry {index}: undecodable token-key ({error})")
            continue
        if token_key.token_key_id in seen:
            skipped.append(f"entry {index}: repeated token-key")
            continue
        seen.add(token_key.token_key_id)
        if entry.not_before is None:
            skipped.append(f"entry {index}: no not-before, so its life cannot be bounded")
            continue
        if policy.pinned and token_key.token_key_id not in policy.pinned:
            skipped.append(f"entry {index}: token key id not pinned")
            continue
        entries.append(DirectoryEntry(token_key, entry.not_before, entry.not_before + policy.life))
    if not entries:
        raise InvalidDirectory("the directory lists no usable type-2 token key")
    if len(entries) > policy.max_keys:
        # Refused whole, not cut down: which keys to keep is exactly what cannot be trusted.
        raise InvalidDirectory(
            f"the directory lists {len(entries)} keys, more than {policy.max_keys} "
            "(PHOENIX_ISSUER_MAX_KEYS): keys could partition users"
        )
    return IssuerDirectory(document.issuer_request_uri, tuple(entries), tuple(skipped), policy.skew)


# --- the client ------------------------------------------------------------------------------


class _FetchFailed(Exception):
    """One fetch did not give a usable directory; the message is safe to log."""


class IssuerDirectoryClient:
    """Keeps a current copy of the issuer directory; start/stop it with the app's lifespan.

    Use as ``async with client:`` or call ``await start()`` and ``await stop()``. `start` makes
    the first fetch (bounded by `timeout`) before returning, so a role whose issuer is up is ready
    at once; a failed first fetch only leaves the client not ready while the loop retries.
    """

    def __init__(
        self,
        url: str,
        *,
        refresh_seconds: float = 300.0,
        timeout: float = 5.0,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        http: httpx.AsyncClient | None = None,
        policy: KeyPolicy = DEFAULT_POLICY,
        max_stale_refreshes: int = 12,
    ) -> None:
        if refresh_seconds <= 0 or timeout <= 0 or not 0 < retry_initial <= retry_max:
            raise ValueError("refresh, timeout and retry intervals must be positive")
        if max_stale_refreshes < 1:
            raise ValueError("max_stale_refreshes must be at least 1")
        if httpx.URL(url).scheme not in ("http", "https"):
            raise ValueError("the issuer directory URL is an http(s) URL")
        self._url = url
        self._refresh_seconds = refresh_seconds
        self._timeout = timeout
        self._retry_initial = retry_initial
        self._retry_max = min(retry_max, refresh_seconds)
        self._http = http
        self._owns_http = http is None
        self._policy = policy
        # Past this many seconds without a good fetch, the last copy is no longer trusted.
        self._max_stale = refresh_seconds * max_stale_refreshes
        self._current: IssuerDirectory | None = None
        self._etag: str | None = None
        self._failures = 0
        self._last_success: float | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, settings: ConfigSettings) -> IssuerDirectoryClient:
        return cls(
            settings.issuer_directory_url,
            refresh_seconds=settings.issuer_directory_refresh_seconds,
            policy=KeyPolicy.from_settings(settings),
            max_stale_refreshes=settings.issuer_directory_max_stale_refreshes,
        )

    @property
    def url(self) -> str:
        return self._url

    # -- what redemption reads (synchronous, never waits on the network) --

    @property
    def current(self) -> IssuerDirectory | None:
        return self._current

    def ready(self) -> bool:
        """True while a good copy is fresh enough: fetched or confirmed within the stale limit.

        While the issuer is away the last copy serves for `max_stale_refreshes` refresh
        intervals; past that nothing is accepted (a 503 that leaves the token unspent).
        """
        if self._current is None or self._last_success is None:
            return False
        return time.monotonic() - self._last_success <= self._max_stale

    def entry_for(self, token_key_id: bytes, now: float | None = None) -> DirectoryEntry | None:
        current = self._current
        return None if current is None else current.entry_for(token_key_id, now)

    def key_for(self, token_key_id: bytes, now: float | None = None) -> TokenKey | None:
        current = self._current
        return None if current is None else current.key_for(token_key_id, now)

    def keys(self) -> list[TokenKey]:
        current = self._current
        return [] if current is None else current.keys()

    def preferred_key(self, now: float | None = None) -> TokenKey | None:
        current = self._current
        return None if current is None else current.preferred_key(now)

    @property
    def last_success(self) -> float | None:
        """time.monotonic() of the last fetch that gave (or confirmed, by 304) a good copy."""
        return self._last_success

    async def probe(self) -> None:
        """A readiness probe (phoenix.common.health.ReadinessCheck): raises while not ready."""
        if self._current is None:
            raise IssuerDirectoryUnavailable("the issuer directory has not been fetched yet")
        if not self.ready():
            raise IssuerDirectoryUnavailable("the last good issuer directory is too old")

    # -- life cycle --

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("the issuer directory client is already running")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
        fetched = await self.refresh()
        self._task = asyncio.create_task(
            self._run(first_delay=self._next_delay(fetched)), name="issuer-directory-refresh"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        await background.stop(task)
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the loop --

    async def _run(self, first_delay: float) -> None:
        delay = first_delay
        while True:
            await asyncio.sleep(delay)
            try:
                fetched = await self.refresh()
            except Exception as error:  # a bug must not end the refresh loop: log, back off
                self._failures += 1
                _DIRECTORY_FAILURES.inc()
                _log.error(
                    "issuer_directory_refresh_crashed", error=type(error).__name__, exc_info=error
                )
                fetched = False
            delay = self._next_delay(fetched)

    def _next_delay(self, fetched: bool) -> float:
        if fetched:
            return self._refresh_seconds
        # Exponential backoff with full jitter, capped by the refresh interval.
        ceiling = min(self._retry_max, self._retry_initial * 2 ** min(self._failures - 1, 30))
        return max(self._retry_initial / 2, random.uniform(0, ceiling))  # noqa: S311

    async def refresh(self) -> bool:
        """Fetch once. True when the copy in use is now confirmed or replaced by a good one."""
        try:
            changed = await self._fetch()
        except _FetchFailed as error:
            self._failures += 1
            _DIRECTORY_FAILURES.inc()
            _log.warning(
                "issuer_directory_refresh_failed",
                reason=str(error),
                failures=self._failures,
                keeping_last_good_copy=self._current is not None,
            )
            return False
        self._failures = 0
        self._last_success = time.monotonic()
        _DIRECTORY_REFRESHED.set(time.time())
        if changed:
            current = self._current
            assert current is not None
            if current.skipped:
                _log.warning("issuer_directory_entries_skipped", skipped=list(current.skipped))
            _log.info("issuer_directory_updated", token_keys=len(current.entries))
        return True

    async def _fetch(self) -> bool:
        """One conditional GET. True if the copy was replaced, False if a 304 confirmed it."""
        http = self._http
        if http is None:
            raise RuntimeError("start() the issuer directory client first")
        headers = {"Accept": f"{DIRECTORY_MEDIA_TYPE}, application/json;q=0.5"}
        if self._etag is not None and self._current is not None:
            headers["If-None-Match"] = self._etag
        try:
            # One deadline for the whole exchange: a server that drips its answer cannot hold
            # the refresh loop (or the app's start) longer than `timeout`.
            async with (
                asyncio.timeout(self._timeout),
                http.stream("GET", self._url, headers=headers) as response,
            ):
                if response.status_code == httpx.codes.NOT_MODIFIED and self._current is not None:
                    return False
                if response.status_code != httpx.codes.OK:
                    raise _FetchFailed(f"HTTP {response.status_code}")
                body = await _read_limited(response)
                etag = response.headers.get("etag")
        except TimeoutError:
            raise _FetchFailed("timeout") from None
        except httpx.HTTPError as error:
            raise _FetchFailed(type(error).__name__) from None
        try:
            directory = parse_directory(body, self._policy)
        except InvalidDirectory as error:
            raise _FetchFailed(str(error)) from None
        self._current = directory
        self._etag = etag
        return True


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_DIRECTORY_BYTES:
            raise _FetchFailed(f"directory larger than {MAX_DIRECTORY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

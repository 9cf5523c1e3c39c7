"""What the client says when something goes wrong: one line, and an exit code that tells why."""

from __future__ import annotations

from typing import Final

import httpx

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1  # a server refused (4xx), or there is nothing to do it with (no tokens)
EXIT_USAGE: Final = 2  # the command line or a local file is wrong (argparse uses 2 as well)
EXIT_UNAVAILABLE: Final = 3  # a server is unreachable or answered 5xx: try again later

# What to do next, by the problem type's last path segment (RFC 9457 `type`).
HINTS: Final = {
    "unauthenticated": "sign in again: phoenix-client login",
    "not-entitled": "subscribe first",
    "issuance-quota-exhausted": "the daily token quota is spent",
    "token-spent": "that token was already used; it is gone from the wallet",
    "invalid-token": "the token is not valid here; it is gone from the wallet",
    "unknown-location": "see phoenix-client locations",
    "no-capacity": "try another location (phoenix-client locations)",
    "spent-token-store-unavailable": "nothing was spent; try again shortly",
    "identity-unavailable": "try again shortly",
}

# Firebase Identity Toolkit error messages (the part before " : ").
FIREBASE_MESSAGES: Final = {
    "EMAIL_EXISTS": "an account with this email exists: use phoenix-client login",
    "EMAIL_NOT_FOUND": "no account with this email: use phoenix-client signup",
    "INVALID_PASSWORD": "wrong email or password",
    "INVALID_LOGIN_CREDENTIALS": "wrong email or password",
    "INVALID_EMAIL": "that is not an email address",
    "WEAK_PASSWORD": "the password is too weak (at least 6 characters)",
    "MISSING_PASSWORD": "a password is needed",
    "USER_DISABLED": "this account is disabled",
    "TOKEN_EXPIRED": "the session has expired: phoenix-client login",
    "INVALID_REFRESH_TOKEN": "the session is no longer valid: phoenix-client login",
    "USER_NOT_FOUND": "the account no longer exists: phoenix-client signup",
}


class ClientError(Exception):
    """An expected failure: printed as one line, never as a traceback."""

    def __init__(
        self, message: str, exit_code: int = EXIT_REFUSED, *, slug: str = "", status: int = 0
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.slug = slug
        self.status = status  # the HTTP status a server answered, when one did


def unreachable(what: str, url: str, error: httpx.HTTPError) -> ClientError:
    reason = type(error).__name__
    return ClientError(
        f"cannot reach {what} at {url} ({reason}): is it running? (make dev)", EXIT_UNAVAILABLE
    )


def from_problem(what: str, response: httpx.Response) -> ClientError:
    """One line for an error answer: the problem document's title and detail, and a hint."""
    status = response.status_code
    code = EXIT_UNAVAILABLE if status >= 500 else EXIT_REFUSED
    title, detail, slug = "", "", ""
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict):
        title = str(document.get("title") or "")
        detail = str(document.get("detail") or "")
        slug = str(document.get("type") or "").rstrip("/").rsplit("/", 1)[-1]
    text = title or response.reason_phrase or "error"
    if detail and detail.lower() != text.lower():
        text += f": {detail}"
    hint = HINTS.get(slug)
    if hint is not None and hint.lower() in text.lower():
        hint = None  # the server already said it
    retry = response.headers.get("retry-after")
    if retry is not None:
        hint = f"{hint}; " if hint else ""
        hint += f"retry after {retry} s"
    return ClientError(
        f"{what} answered {status} {text}" + (f" ({hint})" if hint else ""),
        code,
        slug=slug,
        status=status,
    )


def from_firebase(response: httpx.Response) -> ClientError:
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return from_problem("Firebase", response)
    key = message.split(" ", 1)[0].split(":", 1)[0]
    code = EXIT_UNAVAILABLE if response.status_code >= 500 else EXIT_REFUSED
    return ClientError(f"Firebase: {FIREBASE_MESSAGES.get(key, message)}", code, slug=key)

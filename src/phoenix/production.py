"""What production refuses: the development defaults that would otherwise start without a word.

A role under ``PHOENIX_ENV=prod`` must not run with:

- a name in the reserved ``.invalid`` domain (RFC 6761: it resolves nowhere, so a challenge or
  a redirect that names it is broken);
- a URL, or a public name (``PHOENIX_*_NAME``: the challenge's issuer and origin), that points
  at this machine (``localhost``, a loopback or unspecified address: in a container that is the
  container itself, not the service that holds the credential; to a client, its own device);
- a plain ``http://`` URL (the credential or the answer would travel unprotected);
- one of the development credentials that `make dev` uses and this repository publishes.

The rules are generic: :func:`refusals` looks at every value of a role's settings, so a field
added tomorrow is covered without anyone remembering to. ``phoenix.settings.load`` applies them;
``phoenix check`` lists them all.

Deliberately not refused: an empty value (an optional URL that is not used); a value that is not
a URL, such as a listener address (``PHOENIX_HOST=127.0.0.1`` behind a proxy is a sound
production choice) or a DNS resolver ``host:port``; and non-HTTP schemes over the network
(``postgresql://``, ``redis://``, ``amqp://``: their TLS is the server's choice, not ours to
guess).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

# Development-only credentials: `make dev` runs with them (phoenix.dev.environment), so anyone
# who reads this repository has them. Production refuses each of them in any setting.
DEV_MONITOR_TOKEN: Final = "dev-monitor-token-0123456789abcdef012345"  # noqa: S105
DEV_OPERATOR_TOKEN: Final = "dev-operator-token-0123456789abcdef01234"  # noqa: S105
# Base64 of a fixed 32-byte Ed25519 seed that signs development blocklist manifests.
DEV_BLOCKLIST_SIGNING_SEED: Final = "ZGV2LW9ubHktYmxvY2tsaXN0LXNpZ25pbmctc2VlZCE="
DEVELOPMENT_CREDENTIALS: Final = frozenset(
    {DEV_MONITOR_TOKEN, DEV_OPERATOR_TOKEN, DEV_BLOCKLIST_SIGNING_SEED}
)

REFUSED: Final = "refused in PHOENIX_ENV=prod"
# A name in .invalid: the label ".invalid" not followed by more of a hostname.
_INVALID_NAME = re.compile(r"\.invalid(?![a-z0-9-])", re.IGNORECASE)


def refusals(values: Iterable[tuple[str, object, bool]]) -> list[tuple[str, str]]:
    """``(variable, problem)`` for each setting production refuses, in the order given.

    ``values`` are ``(variable, value, secret)``: a secret's value is never quoted back.
    Strings and lists of strings are checked; other values cannot carry a name or a URL.
    """
    found: list[tuple[str, str]] = []
    for variable, value, secret in values:
        items = value if isinstance(value, list | tuple | frozenset | set) else [value]
        for item in items:
            if isinstance(item, str):
                problem = _problem(variable, item.strip(), secret)
                if problem is not None:
                    found.append((variable, problem))
                    break  # one problem per setting: fixing it is one change
    return found


def _problem(variable: str, value: str, secret: bool) -> str | None:
    if not value:
        return None
    if value in DEVELOPMENT_CREDENTIALS:
        return f"a development credential (published with `make dev`) is {REFUSED}"
    shown = "the value" if secret else repr(value)
    if _INVALID_NAME.search(value):
        return f"{shown} names the reserved .invalid domain (a development default), {REFUSED}"
    if "://" in value or variable.endswith("_URL"):
        return _url_problem(value, shown)
    if variable.endswith("_NAME"):
        # A host or host:port (RFC 9577 issuer and origin names): as a URL's authority.
        return _url_problem("//" + value, shown)
    return None


def _url_problem(value: str, shown: str) -> str | None:
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return None  # malformed URLs are the role's own validation to report
    if parts.scheme.lower() == "http":
        return f"{shown} is plain http: use https ({REFUSED})"
    if host is not None and _is_local(host):
        return f"{shown} points at this machine ({host}), {REFUSED}"
    return None


def _is_local(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified

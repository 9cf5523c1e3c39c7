"""Settings of the auth role. No field here may name NodeDB, Redis state or node secrets."""

from __future__ import annotations

from typing import Annotated

from phoenix.settings import SECRET, CommonSettings


class AuthSettings(CommonSettings, kw_only=True, frozen=True):
    # UserDB (Postgres database phoenix_users); a secret because it may carry a password.
    userdb_url: Annotated[str, SECRET]
    userdb_pool_size: int = 10

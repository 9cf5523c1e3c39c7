"""`phoenix dev grant`: give a user of the development emulator an entitlement, without paying."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

from firebase_admin import auth

from phoenix.app import load_settings
from phoenix.auth import users
from phoenix.auth.firebase import FirebaseVerifier
from phoenix.auth.settings import AuthSettings
from phoenix.common.database import create_engine
from phoenix.dev.environment import environment
from phoenix.dev.errors import DevError


def grant(email: str, days: int) -> dict[str, str]:
    """Entitle the emulator's user ``email`` for ``days`` more days; what was granted."""
    os.environ.update(environment(os.environ))  # the same defaults `make dev` runs with
    settings = load_settings("auth")
    assert isinstance(settings, AuthSettings)
    verifier = FirebaseVerifier(settings)
    try:
        uid = auth.get_user_by_email(email, app=verifier.app).uid
    except auth.UserNotFoundError:
        raise DevError(f"no Firebase user with email {email}: sign up first") from None
    finally:
        verifier.close()

    async def run() -> datetime:
        engine = create_engine(settings.userdb_url, pool_size=1)
        try:
            async with engine.begin() as connection:
                await users.upsert_user(connection, uid, email)
                return await users.grant(connection, uid, days, datetime.now(UTC))
        finally:
            await engine.dispose()

    expires = asyncio.run(run())
    return {"uid": uid, "email": email, "entitled_until": expires.isoformat()}

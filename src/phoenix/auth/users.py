"""Remembering users and granting entitlements (the issuance statement reads them).

The entitlement check itself is part of the issuance statement (phoenix.auth.quota).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from phoenix.auth.models import Entitlement, User

GRANT = "grant"


async def upsert_user(connection: AsyncConnection, uid: str, email: str | None) -> None:
    statement = insert(User).values(uid=uid, email=email)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[User.uid],
            set_={"email": statement.excluded.email},
            where=User.email.is_distinct_from(statement.excluded.email),
        )
    )


async def grant(connection: AsyncConnection, uid: str, days: int, now: datetime) -> datetime:
    """Give ``uid`` an entitlement of the ``grant`` source until now + days (development)."""
    expires = now + timedelta(days=days)
    statement = insert(Entitlement).values(uid=uid, source=GRANT, expires_at=expires)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[Entitlement.uid, Entitlement.source],
            set_={"expires_at": statement.excluded.expires_at, "updated_at": func.now()},
        )
    )
    return expires

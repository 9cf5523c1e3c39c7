"""UserDB models. Only the auth role imports this; its base is not shared with NodeDB.

What the issuer keeps per user is deliberately small: no blinded message, signature, token or
key choice is ever stored — only how many tokens were issued in each recent hour (the quota).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, DateTime, ForeignKey, Integer, MetaData, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from phoenix.common.database import NAMING_CONVENTION


class UserBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(UserBase):
    """A person known by their Firebase uid. Nothing here says where they connect."""

    __tablename__ = "users"

    uid: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Entitlement(UserBase):
    """Whether a user may get tokens, and until when. One row per user and source."""

    __tablename__ = "entitlements"

    uid: Mapped[str] = mapped_column(ForeignKey("users.uid", ondelete="CASCADE"), primary_key=True)
    # "grant" (development and support), later "stripe" and "apple".
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class IssuanceQuota(UserBase):
    """Tokens issued per hour over the last 24 hours: counts[1] is ``hour``, counts[2] the hour
    before, and so on. One row per user, updated by a single conditional statement
    (phoenix.auth.quota), so concurrent requests can never issue past the limit."""

    __tablename__ = "issuance_quota"

    uid: Mapped[str] = mapped_column(ForeignKey("users.uid", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger)
    counts: Mapped[list[int]] = mapped_column(ARRAY(Integer))

"""NodeDB models. Only the config role imports this; its base is not shared with UserDB.

Nothing here names a user: a lease is a node, a client's WireGuard public key, its tunnel
addresses and an expiry — no token, token hash, creation time or client address.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import CIDR, INET
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from phoenix.common.database import NAMING_CONVENTION

# pending: enrolled, waiting for an operator (PHOENIX_NODE_APPROVAL=manual); lost: silent past
# PHOENIX_NODE_LOST_AFTER. Only active nodes take peers.
NODE_STATUSES = ("pending", "active", "lost", "draining", "drained", "terminated")
# "lost" is never asked for: it is how a node silent past PHOENIX_NODE_FORGET_AFTER was retired.
DRAIN_REASONS = ("blocked", "compromised", "retired", "manual", "lost")


class NodeBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Node(NodeBase):
    """An exit node, identified by its WireGuard public key."""

    __tablename__ = "nodes"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'active', 'lost', 'draining', 'drained', 'terminated')",
            name="status",
        ),
        CheckConstraint(
            "drain_reason IS NULL OR "
            "drain_reason IN ('blocked', 'compromised', 'retired', 'manual', 'lost')",
            name="drain_reason",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    location: Mapped[str] = mapped_column(String(64), index=True)
    listen_port: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default="active")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The node's own public address (where clients send WireGuard packets), never a client's.
    public_ip: Mapped[str | None] = mapped_column(INET)
    capacity: Mapped[int] = mapped_column(Integer, server_default="0")
    # SHA-256 of the node credential; the credential itself is shown once and never stored.
    credential_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # The pool index carves this node's IPv4 and IPv6 pools from the configured supernets; a
    # unique index makes concurrent registrations unable to share a pool.
    pool_index: Mapped[int | None] = mapped_column(Integer, unique=True)
    ipv4_pool: Mapped[str | None] = mapped_column(CIDR)
    ipv6_pool: Mapped[str | None] = mapped_column(CIDR)
    # Bumped by every peer change; nodes sync by it.
    revision: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # The pool offset the next lease tries first, so a connect takes an address in one statement
    # instead of searching the pool; gaps left by expired leases are searched only when the
    # counter runs out or collides (phoenix.config.leases).
    next_host: Mapped[int] = mapped_column(Integer, server_default="2")
    drain_reason: Mapped[str | None] = mapped_column(String(16))
    # The EC2 instance id of a node enrolled by its signed instance identity document: one
    # instance, one key, ever (trust on first use). The reaper terminates only by this id.
    instance_id: Mapped[str | None] = mapped_column(String(32), unique=True)


class EnrollmentKey(NodeBase):
    """A single-use key that enrolls one node in one location until it expires.

    Only its SHA-256 is kept (the key is random and 256 bits long: no slow hash needed); using
    it deletes the row in the transaction that creates the node."""

    __tablename__ = "enrollment_keys"

    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    location: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Lease(NodeBase):
    """A client key's place on a node: tunnel addresses until ``expires_at``."""

    __tablename__ = "leases"
    __table_args__ = (
        UniqueConstraint("node_id", "ipv4", name="uq_leases_node_ipv4"),
        UniqueConstraint("node_id", "ipv6", name="uq_leases_node_ipv6"),
    )

    # One lease per client key: reconnecting moves it.
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    node_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), index=True
    )
    ipv4: Mapped[str] = mapped_column(INET)
    ipv6: Mapped[str] = mapped_column(INET)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

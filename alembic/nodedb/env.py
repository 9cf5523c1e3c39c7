"""Alembic environment of the nodedb tree (config role's NodeDB): only phoenix.config.models."""

from phoenix.common import migration_env
from phoenix.config.models import NodeBase

migration_env.run(NodeBase.metadata, "PHOENIX_NODEDB_URL")

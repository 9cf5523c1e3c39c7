"""Alembic environment of the userdb tree (auth role's UserDB): only phoenix.auth.models."""

from phoenix.auth.models import UserBase
from phoenix.common import migration_env

migration_env.run(UserBase.metadata, "PHOENIX_USERDB_URL")

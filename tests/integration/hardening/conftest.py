"""Hardening tests run the roles as their own tests do: the same fixtures, re-exported here."""

from tests.integration.auth.conftest import apple_chain, billing, stripe_stub
from tests.integration.config.conftest import config_server, config_settings

__all__ = ["apple_chain", "billing", "config_server", "config_settings", "stripe_stub"]

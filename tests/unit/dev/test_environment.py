"""The environment `make dev` gives its roles: refused in production, each role's own Redis."""

from __future__ import annotations

from phoenix.dev.environment import DEV_ENV, role_environment


def test_make_devs_environment_is_refused_in_production() -> None:
    """A deployment that copies `make dev`'s environment does not start: its credentials and
    its names for the roles are each refused under PHOENIX_ENV=prod."""
    from phoenix.config.settings import ConfigSettings
    from phoenix.settings import load, production_problems

    # Without the one setting config's own checks refuse first in production.
    env = {**DEV_ENV, "PHOENIX_ENV": "prod", "PHOENIX_NODE_DEV_NETWORKS": ""}
    settings = load(ConfigSettings, env, refuse_development_defaults=False)
    refused = {problem.variable for problem in production_problems(settings)}
    assert {
        "PHOENIX_NODEDB_URL",
        "PHOENIX_REDIS_URL",
        "PHOENIX_MONITOR_TOKEN",
        "PHOENIX_OPERATOR_TOKEN",
        "PHOENIX_ISSUER_NAME",
        "PHOENIX_ORIGIN_NAME",
    } <= refused


def test_in_development_the_challenge_names_the_auth_role_where_it_listens() -> None:
    from phoenix.app import DEFAULT_PORTS

    assert DEV_ENV["PHOENIX_ISSUER_NAME"] == f"127.0.0.1:{DEFAULT_PORTS['auth']}"
    assert DEV_ENV["PHOENIX_ORIGIN_NAME"] == f"127.0.0.1:{DEFAULT_PORTS['config']}"


def test_make_dev_runs_the_worker_on_a_redis_database_of_its_own() -> None:
    env = {
        "PHOENIX_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PHOENIX_BROKER_URL": "redis://127.0.0.1:7001/0",
    }
    assert role_environment(env, "worker") == {
        "PHOENIX_REDIS_URL": "redis://127.0.0.1:6379/1",
        "PHOENIX_BROKER_URL": "redis://127.0.0.1:7001/1",
    }
    assert role_environment(env, "config") == env

"""`make dev` without root runs the control plane alone and says why in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix import devrun


def test_without_root_the_local_exit_node_is_refused_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devrun.os, "geteuid", lambda: 1000)
    assert devrun.LocalNode.unavailable() == (
        "the local exit node needs root (network namespaces): control plane only"
    )


def test_a_missing_tool_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devrun.os, "geteuid", lambda: 0)
    monkeypatch.setattr(devrun.shutil, "which", lambda tool: None if tool == "nft" else tool)
    assert devrun.LocalNode.unavailable() == (
        "the local exit node needs nft (make dev installs it): control plane only"
    )


def test_the_summary_says_how_to_try_it_and_why_there_is_no_node(
    capsys: pytest.CaptureFixture[str],
) -> None:
    devrun._summary("the local exit node needs root (network namespaces): control plane only")
    out = capsys.readouterr().out
    assert "exit node  none: the local exit node needs root" in out
    for step in ("signup --email", "dev grant --email", "tokens fetch", "connect --location"):
        assert step in out


def test_a_taken_relay_port_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The namespace commands are skipped here (they need root); the relay's bind fails."""
    monkeypatch.setattr(devrun, "_ip", lambda *args: None)
    monkeypatch.setattr(devrun.LocalNode, "remove", lambda self: None)

    def taken(*args: object) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(devrun, "_Relay", taken)
    with pytest.raises(devrun.DevError, match=r"cannot listen on .*\(Address already in use\)"):
        devrun.LocalNode({}).start()


def test_make_devs_environment_is_refused_in_production() -> None:
    """A deployment that copies `make dev`'s environment does not start: its credentials and
    its names for the roles are each refused under PHOENIX_ENV=prod."""
    from phoenix.config.settings import ConfigSettings
    from phoenix.settings import load, production_problems

    # Without the one setting config's own checks refuse first in production.
    env = {**devrun.DEV_ENV, "PHOENIX_ENV": "prod", "PHOENIX_NODE_DEV_NETWORKS": ""}
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

    assert devrun.DEV_ENV["PHOENIX_ISSUER_NAME"] == f"127.0.0.1:{DEFAULT_PORTS['auth']}"
    assert devrun.DEV_ENV["PHOENIX_ORIGIN_NAME"] == f"127.0.0.1:{DEFAULT_PORTS['config']}"


def test_make_dev_runs_the_worker_on_a_redis_database_of_its_own() -> None:
    env = {
        "PHOENIX_REDIS_URL": "redis://127.0.0.1:6379/0",
        "PHOENIX_BROKER_URL": "redis://127.0.0.1:7001/0",
    }
    assert devrun.role_environment(env, "worker") == {
        "PHOENIX_REDIS_URL": "redis://127.0.0.1:6379/1",
        "PHOENIX_BROKER_URL": "redis://127.0.0.1:7001/1",
    }
    assert devrun.role_environment(env, "config") == env


def test_make_dev_adds_an_issuer_key_before_the_last_one_stops_signing(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.harness import issuer

    bundle = tmp_path / "keys.pem"
    now = datetime.now(UTC)
    assert devrun.needs_new_key(bundle, now.timestamp())  # none yet
    bundle.write_text(issuer.bundle(now - timedelta(days=22)))
    assert not devrun.needs_new_key(bundle, now.timestamp())
    bundle.write_text(issuer.bundle(now - timedelta(days=24)))
    assert devrun.needs_new_key(bundle, now.timestamp())

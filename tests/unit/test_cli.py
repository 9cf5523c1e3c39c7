"""The command line fails fast and plainly: exit code 2 and one line naming what to fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def phoenix(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    return subprocess.run(
        [sys.executable, "-m", "phoenix", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_naming(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_serve_without_a_required_setting_exits_2_naming_it() -> None:
    assert_one_line_naming(phoenix("serve", "--role", "config"), "PHOENIX_NODEDB_URL")


def test_serve_with_a_malformed_setting_exits_2_naming_it() -> None:
    result = phoenix(
        "serve",
        "--role",
        "auth",
        PHOENIX_USERDB_URL="postgresql://h/db",
        PHOENIX_USERDB_POOL_SIZE="lots",
    )
    assert_one_line_naming(result, "PHOENIX_USERDB_POOL_SIZE")


def test_serve_with_a_bad_broker_choice_exits_2_naming_it() -> None:
    assert_one_line_naming(
        phoenix("serve", "--role", "worker", PHOENIX_BROKER="kafka"), "PHOENIX_BROKER"
    )


def test_serve_without_a_role_exits_2_naming_the_variable() -> None:
    assert_one_line_naming(phoenix("serve"), "PHOENIX_ROLE")


def test_an_unknown_role_is_refused() -> None:
    result = phoenix("serve", "--role", "billing")
    assert result.returncode == 2
    assert "billing" in result.stderr


@pytest.mark.parametrize("command", [("dev", "settings", "--role", "analytics"), ("dev", "up")])
def test_development_commands_are_refused_outside_dev(command: tuple[str, ...]) -> None:
    assert_one_line_naming(phoenix(*command), "PHOENIX_ENV")


def test_dev_settings_masks_secrets() -> None:
    result = phoenix(
        "dev",
        "settings",
        "--role",
        "config",
        PHOENIX_ENV="dev",
        PHOENIX_NODEDB_URL="postgresql://u:hunter2@h/db",
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert '"nodedb_url": "***"' in result.stdout


def test_the_node_daemon_reports_its_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "phoenix_node", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("phoenix-node ")

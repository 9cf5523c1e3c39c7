"""The real `phoenix` command refuses development defaults in production, reads PHOENIX_HOST and
PHOENIX_WORKERS through the settings loader, and shows what a role would run with
(`phoenix check`, and `phoenix dev settings` with the environment `make dev` gives its roles)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from phoenix.app import DEFAULT_PORTS
from phoenix.dev.probes import free_port
from phoenix.production import DEV_OPERATOR_TOKEN
from tests.harness import issuer

# Config in production with every development default replaced except the ones a test names.
CONFIG_PROD = {
    "PHOENIX_ENV": "prod",
    "PHOENIX_NODEDB_URL": "postgresql://phoenix:hunter2@nodedb.internal.example/phoenix_nodes",
    "PHOENIX_REDIS_URL": "redis://:pw@redis.internal.example:6379/0",
    "PHOENIX_ISSUER_DIRECTORY_URL": (
        "https://auth.example.com/.well-known/private-token-issuer-directory"
    ),
}
STARTED = "the process is still running: it started instead of refusing"


def phoenix(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`phoenix ARGS` with only the given PHOENIX_* variables (and no Auth emulator)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PHOENIX_") and k != "FIREBASE_AUTH_EMULATOR_HOST"
    }
    # A server that does start must not collide with another's default operations port.
    ops = {"PHOENIX_OPS_PORT": str(free_port())} if args[:1] == ("serve",) else {}
    try:
        return subprocess.run(
            [sys.executable, "-m", "phoenix", *args],
            env={**clean, **ops, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:  # a server that started: the test's answer, not a hang
        pytest.fail(STARTED)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("phoenix: PHOENIX_")
    return lines[0]


def test_production_config_with_development_names_exits_2_naming_the_setting() -> None:
    port = str(free_port())
    line = one_line(phoenix("serve", "--role", "config", "--port", port, **CONFIG_PROD))
    assert line.startswith("phoenix: PHOENIX_ISSUER_NAME: ")
    assert "auth.phoenix.invalid" in line


def test_production_config_with_all_its_defaults_names_the_first_problem() -> None:
    env = {"PHOENIX_ENV": "prod", "PHOENIX_NODEDB_URL": CONFIG_PROD["PHOENIX_NODEDB_URL"]}
    port = str(free_port())
    line = one_line(phoenix("serve", "--role", "config", "--port", port, **env))
    assert line.startswith("phoenix: PHOENIX_REDIS_URL: ")
    assert "hunter2" not in line


def test_production_refuses_a_development_token(tmp_path: Path) -> None:
    result = phoenix(
        "serve",
        "--role",
        "analytics",
        "--port",
        str(free_port()),
        PHOENIX_ENV="prod",
        PHOENIX_CHDB_PATH=str(tmp_path / "chdb"),
        PHOENIX_OPERATOR_TOKEN=DEV_OPERATOR_TOKEN,
    )
    line = one_line(result)
    assert line.startswith("phoenix: PHOENIX_OPERATOR_TOKEN: a development credential")
    assert DEV_OPERATOR_TOKEN not in line


@pytest.mark.parametrize("workers", ["abc", "0"])
def test_a_bad_worker_count_exits_2_in_one_line(workers: str) -> None:
    result = phoenix("serve", "--role", "config", PHOENIX_WORKERS=workers, **CONFIG_PROD)
    assert one_line(result).startswith("phoenix: PHOENIX_WORKERS: ")


def test_a_bad_worker_count_does_not_break_unrelated_commands() -> None:
    result = phoenix("--version", PHOENIX_WORKERS="abc")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("phoenix ")


def test_serve_listens_on_the_host_from_the_settings(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "phoenix", "serve", "--role", "analytics", "--port", str(port)],
        env={
            **clean,
            "PHOENIX_ENV": "test",
            "PHOENIX_HOST": "127.0.0.2",  # another loopback address: the default is 127.0.0.1
            "PHOENIX_WORKERS": "1",
            "PHOENIX_OPS_PORT": str(free_port()),
            "PHOENIX_CHDB_PATH": str(tmp_path / "chdb"),
        },
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.2:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, "serve exited"
                assert time.monotonic() < deadline, "nothing answered on 127.0.0.2"
                time.sleep(0.2)
        assert answer.status_code == 200
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def test_check_prints_the_settings_and_passes_when_nothing_is_wrong(tmp_path: Path) -> None:
    result = phoenix(
        "check",
        "--role",
        "analytics",
        PHOENIX_ENV="prod",
        PHOENIX_CHDB_PATH=str(tmp_path / "chdb"),
        PHOENIX_OPERATOR_TOKEN="o" * 40,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["settings"]["env"] == "prod"
    assert report["settings"]["operator_token"] == "***"


def test_check_lists_every_problem_masks_secrets_and_exits_2() -> None:
    env = {"PHOENIX_ENV": "prod", "PHOENIX_NODEDB_URL": CONFIG_PROD["PHOENIX_NODEDB_URL"]}
    result = phoenix("check", "--role", "config", **env)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    named = [problem.split(":")[0] for problem in report["problems"]]
    assert named == [
        "PHOENIX_REDIS_URL",
        "PHOENIX_ISSUER_DIRECTORY_URL",
        "PHOENIX_ISSUER_NAME",
        "PHOENIX_ORIGIN_NAME",
    ]
    assert report["settings"]["nodedb_url"] == "***"
    assert report["settings"]["issuer_name"] == "auth.phoenix.invalid"
    assert "hunter2" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [f"phoenix: {p}" for p in report["problems"]]


def test_check_reports_settings_that_cannot_even_load() -> None:
    result = phoenix("check", "--role", "config", PHOENIX_ENV="test")
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert report["settings"] is None
    assert report["problems"] == ["PHOENIX_NODEDB_URL: missing (required)"]


def test_check_passes_in_development_with_development_values() -> None:
    result = phoenix(
        "check",
        "--role",
        "config",
        PHOENIX_ENV="dev",
        PHOENIX_NODEDB_URL="postgresql://postgres@127.0.0.1/phoenix_nodes",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_dev_settings_shows_what_make_dev_runs_the_auth_role_with(tmp_path: Path) -> None:
    keys = tmp_path / "issuer-keys.pem"
    keys.write_text(issuer.bundle())
    result = phoenix(
        "dev",
        "settings",
        "--role",
        "auth",
        PHOENIX_ENV="dev",
        PHOENIX_ISSUER_SIGNING_KEYS_FILE=str(keys),  # make dev writes its own into .dev
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["settings"]["userdb_url"] == "***"  # make dev's UserDB, not "missing"
    assert report["settings"]["issuer_signing_keys"] == "***"
    assert report["settings"]["firebase_project_id"] == "demo-phoenix"


def test_in_development_the_challenge_names_the_reachable_roles() -> None:
    result = phoenix("dev", "settings", "--role", "config", PHOENIX_ENV="dev")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)["settings"]
    assert shown["issuer_name"] == f"127.0.0.1:{DEFAULT_PORTS['auth']}"
    assert shown["origin_name"] == f"127.0.0.1:{DEFAULT_PORTS['config']}"

"""Settings: environment, env file and ``_FILE``; a bad value names its variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_node.settings import SettingsError, load

BASE = {
    "PHOENIX_NODE_API_URL": "http://127.0.0.1:8082",
    "PHOENIX_NODE_TOKEN": "bootstrap-token-123",
    "PHOENIX_NODE_REGION": "de-fra",
    "PHOENIX_NODE_PUBLIC_IP": "192.0.2.1",
}


def test_defaults_follow_the_issue() -> None:
    settings = load(BASE)
    assert (settings.wg_interface, settings.egress_interface) == ("wg0", "eth0")
    assert settings.listen_port == 51820
    assert settings.wg_backend == "netlink"
    assert settings.mass_removal_share == 0.5
    assert settings.blocked_tcp_ports == (25,)


def test_values_are_converted_and_lists_split() -> None:
    settings = load(
        {**BASE, "PHOENIX_NODE_LISTEN_PORT": "51999", "PHOENIX_NODE_BLOCKED_TCP_PORTS": "25, 465"}
    )
    assert settings.listen_port == 51999
    assert settings.blocked_tcp_ports == (25, 465)


def test_the_token_may_come_from_a_file_and_the_rest_from_an_env_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("from-a-file-token\n")
    env_file = tmp_path / "node.env"
    env_file.write_text("# comment\nPHOENIX_NODE_REGION='nl-ams'\nPHOENIX_NODE_WG_BACKEND=uapi\n")
    environ = {k: v for k, v in BASE.items() if k != "PHOENIX_NODE_TOKEN"}
    settings = load({**environ, "PHOENIX_NODE_TOKEN_FILE": str(token)}, env_file)
    assert settings.node_token == "from-a-file-token"
    assert settings.wg_backend == "uapi"
    assert settings.region == "de-fra"  # the environment wins over the file


def test_secrets_come_from_the_fetcher_when_the_source_is_aws() -> None:
    asked: list[str] = []

    def fetch(secret_id: str) -> str:
        asked.append(secret_id)
        return "token-from-secrets-manager"

    environ = {k: v for k, v in BASE.items() if k != "PHOENIX_NODE_TOKEN"}
    settings = load({**environ, "PHOENIX_NODE_SECRETS_SOURCE": "aws"}, fetch_secret=fetch)
    assert settings.node_token == "token-from-secrets-manager"
    assert asked == ["phoenix/NODE_TOKEN"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PHOENIX_NODE_LISTEN_PORT", "seventy", "PHOENIX_NODE_LISTEN_PORT: malformed"),
        ("PHOENIX_NODE_LISTEN_PORT", "70000", "PHOENIX_NODE_LISTEN_PORT"),
        ("PHOENIX_NODE_PUBLIC_IP", "not-an-ip", "PHOENIX_NODE_PUBLIC_IP: is not an IP address"),
        ("PHOENIX_NODE_WG_BACKEND", "kernel", "PHOENIX_NODE_WG_BACKEND"),
        ("PHOENIX_NODE_WG_INTERFACE", "a-name-far-too-long", "PHOENIX_NODE_WG_INTERFACE"),
        ("PHOENIX_NODE_SSH_FROM", "10.0.0.0/99", "PHOENIX_NODE_SSH_FROM"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load({**BASE, variable: value})


def test_a_missing_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="PHOENIX_NODE_API_URL: missing"):
        load({k: v for k, v in BASE.items() if k != "PHOENIX_NODE_API_URL"})


def test_the_daemon_exits_2_with_one_line_and_no_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phoenix_node"],
        env={**BASE, "PHOENIX_NODE_LISTEN_PORT": "seventy"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "phoenix-node: PHOENIX_NODE_LISTEN_PORT: malformed value 'seventy': "
        "Expected `int`, got `str`"
    ]
    assert "Traceback" not in done.stderr


def test_every_setting_is_documented_in_docs_node_md() -> None:
    import msgspec

    from phoenix_node.settings import NodeSettings, variable

    docs = (Path(__file__).resolve().parents[3] / "docs" / "node.md").read_text()
    missing = [
        variable(field.name)
        for field in msgspec.structs.fields(NodeSettings)
        if f"`{variable(field.name)}`" not in docs
    ]
    assert not missing

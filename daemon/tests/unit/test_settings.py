"""Settings: environment, env file and ``_FILE``; a bad value names its variable, never a secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from phoenix_node.settings import SettingsError, load

BASE = {
    "PHOENIX_NODE_API_URL": "http://127.0.0.1:8082",
    "PHOENIX_NODE_ENROLLMENT_KEY": "pnk_enrollment-key-123",
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


def without(*names: str) -> dict[str, str]:
    return {k: v for k, v in BASE.items() if k not in names}


def test_the_enrollment_key_may_come_from_a_file_and_the_rest_from_an_env_file(
    tmp_path: Path,
) -> None:
    key = tmp_path / "enrollment-key"
    key.write_text("pnk_from-a-file\n")
    env_file = tmp_path / "node.env"
    env_file.write_text("# comment\nPHOENIX_NODE_REGION='nl-ams'\nPHOENIX_NODE_WG_BACKEND=uapi\n")
    environ = without("PHOENIX_NODE_ENROLLMENT_KEY")
    settings = load({**environ, "PHOENIX_NODE_ENROLLMENT_KEY_FILE": str(key)}, env_file)
    assert settings.enrollment_key == "pnk_from-a-file"
    assert settings.wg_backend == "uapi"
    assert settings.region == "de-fra"  # the environment wins over the file


def test_aws_attestation_needs_no_enrollment_key_and_asks_the_link_local_imds() -> None:
    settings = load({**without("PHOENIX_NODE_ENROLLMENT_KEY"), "PHOENIX_NODE_ATTESTATION": "aws"})
    assert settings.enrollment_key is None
    assert settings.attestation == "aws"
    assert settings.imds_url == "http://169.254.169.254"


def test_without_an_enrollment_key_or_attestation_the_daemon_cannot_start() -> None:
    with pytest.raises(SettingsError) as raised:
        load(without("PHOENIX_NODE_ENROLLMENT_KEY"))
    assert str(raised.value) == (
        "PHOENIX_NODE_ENROLLMENT_KEY: missing (required unless PHOENIX_NODE_ATTESTATION=aws)"
    )


def test_a_malformed_enrollment_key_is_named_but_never_shown() -> None:
    # Not an enrollment key (e.g. the old fleet-wide token pasted in): refused at start.
    with pytest.raises(SettingsError, match="PHOENIX_NODE_ENROLLMENT_KEY: malformed") as raised:
        load({**BASE, "PHOENIX_NODE_ENROLLMENT_KEY": "old-fleet-token-secret"})
    assert "old-fleet-token-secret" not in str(raised.value)
    assert "<hidden>" in str(raised.value)


def test_the_settings_repr_hides_the_enrollment_key() -> None:
    shown = repr(load(BASE))
    assert "pnk_enrollment-key-123" not in shown
    assert "enrollment_key='<hidden>'" in shown
    assert "region='de-fra'" in shown


def test_the_old_fleet_token_is_no_way_to_enroll() -> None:
    # A fleet-wide secret is what this design removes: its variables are not read any more.
    fleet = {"PHOENIX_NODE_TOKEN": "x" * 40, "PHOENIX_NODE_SECRETS_SOURCE": "aws"}
    with pytest.raises(SettingsError, match="PHOENIX_NODE_ENROLLMENT_KEY: missing"):
        load({**without("PHOENIX_NODE_ENROLLMENT_KEY"), **fleet})


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PHOENIX_NODE_LISTEN_PORT", "seventy", "PHOENIX_NODE_LISTEN_PORT: malformed"),
        ("PHOENIX_NODE_LISTEN_PORT", "70000", "PHOENIX_NODE_LISTEN_PORT"),
        ("PHOENIX_NODE_PUBLIC_IP", "not-an-ip", "PHOENIX_NODE_PUBLIC_IP: is not an IP address"),
        ("PHOENIX_NODE_WG_BACKEND", "kernel", "PHOENIX_NODE_WG_BACKEND"),
        ("PHOENIX_NODE_WG_INTERFACE", "a-name-far-too-long", "PHOENIX_NODE_WG_INTERFACE"),
        ("PHOENIX_NODE_SSH_CIDRS", "10.0.0.0/8,10.0.0.0/99", "PHOENIX_NODE_SSH_CIDRS"),
        ("PHOENIX_NODE_ATTESTATION", "gcp", "PHOENIX_NODE_ATTESTATION"),
        ("PHOENIX_NODE_IMDS_URL", "169.254.169.254", "PHOENIX_NODE_IMDS_URL"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load({**BASE, variable: value})


def test_a_missing_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="PHOENIX_NODE_API_URL: missing"):
        load(without("PHOENIX_NODE_API_URL"))


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


def test_the_daemon_without_a_way_to_enroll_exits_2_with_that_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phoenix_node"],
        env=without("PHOENIX_NODE_ENROLLMENT_KEY"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "phoenix-node: PHOENIX_NODE_ENROLLMENT_KEY: missing"
        " (required unless PHOENIX_NODE_ATTESTATION=aws)"
    ]


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


def test_the_boot_ruleset_takes_only_the_firewall_settings_and_checks_them(tmp_path: Path) -> None:
    from phoenix_node.settings import firewall_values

    deployment = tmp_path / "deployment.env"
    deployment.write_text("PHOENIX_NODE_SSH_CIDRS=198.51.100.0/24\nPHOENIX_NODE_API_URL=x\n")
    values = firewall_values({"PHOENIX_NODE_PRIVATE_NETWORKS": "10.1.0.0/16"}, deployment)
    assert values == {"ssh_cidrs": ("198.51.100.0/24",), "private_networks": ("10.1.0.0/16",)}
    with pytest.raises(SettingsError, match="PHOENIX_NODE_SSH_CIDRS"):
        firewall_values({"PHOENIX_NODE_SSH_CIDRS": "not-a-cidr"})

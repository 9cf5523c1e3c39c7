"""The deploy files, checked with the tools Debian offers: systemd-analyze for the unit, the JSON
schema of Debian's cloud-init package for the user data, sh -n for the OpenRC script."""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.conftest import require

DEPLOY = Path(__file__).resolve().parents[3] / "daemon" / "deploy"
UNIT = DEPLOY / "systemd" / "phoenix-node.service"
SCHEMA = "usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith("#"):
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    require("systemd-analyze", shutil.which("systemd-analyze") is not None, "Debian systemd")
    # verify insists that ExecStart exists: point it at a program that does.
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/phoenix-node", "/bin/true"))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "phoenix-node.service" not in done.stderr  # no warning about our unit
    seen = directives(UNIT)
    assert seen["NoNewPrivileges"] == ["yes"]
    assert seen["ProtectSystem"] == ["strict"]
    assert seen["CapabilityBoundingSet"] == ["CAP_NET_ADMIN"]
    assert seen["Restart"] == ["always"]
    assert seen["ReadWritePaths"] == ["/run/phoenix-node -/run/wireguard"]  # tmpfs only
    # The key and the registration outlive a stop or restart (not a reboot: /run is tmpfs).
    assert seen["RuntimeDirectoryPreserve"] == ["yes"]
    assert not {"ExecStop", "ExecStopPost"} & set(seen)  # nothing erases them on the way out


@functools.cache
def cloud_config_schema() -> dict[str, Any]:
    """cloud-init's own schema, from Debian's cloud-init package (downloaded, not installed:
    installing it would arm cloud-init on this machine's next boot)."""
    scratch = Path(tempfile.mkdtemp(prefix="phoenix-cloud-init-"))
    subprocess.run(
        ["apt-get", "download", "cloud-init"], cwd=scratch, check=True, capture_output=True
    )
    [package] = scratch.glob("cloud-init_*.deb")
    subprocess.run(["dpkg-deb", "-x", str(package), str(scratch / "x")], check=True)
    schema: dict[str, Any] = json.loads((scratch / "x" / SCHEMA).read_text())
    shutil.rmtree(scratch)
    return schema


def test_the_cloud_init_user_data_is_valid_and_keeps_the_node_diskless() -> None:
    require("apt-get", shutil.which("apt-get") is not None, "Debian apt")
    text = (DEPLOY / "cloud-init.yaml").read_text()
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)
    validator = jsonschema.Draft4Validator(cloud_config_schema())
    assert [error.message for error in validator.iter_errors(data)] == []
    assert list(validator.iter_errors({"mounts": 5}))  # the same check refuses a bad file
    assert data["ssh_pwauth"] is False
    tmpfs = {mount[1] for mount in data["mounts"] if mount[2] == "tmpfs"}
    assert {"/var/log", "/run/phoenix-node"} <= tmpfs
    commands = json.dumps(data["runcmd"])
    assert "sha256sum -c" in commands
    env = next(f for f in data["write_files"] if f["path"] == "/etc/phoenix-node/node.env")
    assert "PHOENIX_NODE_ATTESTATION=aws" in env["content"]
    # No secret sits in user data: no enrollment key (in any form), no fleet-wide token.
    variables = re.findall(r"^\s*(PHOENIX_NODE_[A-Z_]+)=", text, re.MULTILINE)
    assert not [v for v in variables if "ENROLLMENT_KEY" in v or "TOKEN" in v or "SECRET" in v]
    assert "pnk_" not in text
    service = next(f for f in data["write_files"] if f["path"] == "/etc/init.d/phoenix-node")
    assert service["content"] == (DEPLOY / "openrc" / "phoenix-node").read_text()


def test_the_openrc_script_is_valid_sh() -> None:
    script = DEPLOY / "openrc" / "phoenix-node"
    assert script.read_text().startswith("#!/sbin/openrc-run\n")
    done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

"""The shipped config Deployment and its Secret, run by `podman kube play` until /readyz is 200.

What is adapted, and why (everything else — the read-only root filesystem, the non-root user,
the dropped capabilities, the secrets as files under /run/secrets/phoenix, the /tmp emptyDir —
runs as shipped):

- the image: the locally built config image (tests/images.py), never pulled
  (imagePullPolicy Never);
- the Secret's values: a NodeDB migrated for this test on the machine's Postgres, the machine's
  Redis, and tokens of the test's own;
- PHOENIX_ENV=test: production refuses loopback and plain-http URLs by design (phoenix.production),
  and everything here is on this machine's loopback;
- PHOENIX_ISSUER_DIRECTORY_URL: the harness's static issuer directory (tests/harness/issuer.py),
  which stands in for the auth role as every config-only test does: config's readiness needs a
  directory it could fetch, and nothing else of auth;
- the host's network (hostNetwork) and free ports, so the pod reaches 127.0.0.1 and the test
  reaches the pod (the container's named ports go: podman maps no ports on the host network);
- one replica.

podman 4.3 plays Pods and Deployments, not Secrets: the Secret is stored as a podman secret
(`podman secret create`, whose data is the Secret's YAML), which is how `podman kube play`
resolves a `secret:` volume. Two quirks of podman 4.3.1 (Debian bookworm), worked around here
and nowhere in the shipped files: a `secret:` volume without `optional` crashes it (a nil
pointer in VolumeFromSecret), so `optional: false` is spelled out; and it ignores `stringData`
and writes each `data` value verbatim, without base64-decoding it, so the podman secret carries
the plain values under `data` (a newer podman gets the Secret as Kubernetes reads it).
The pod's infra container needs `catatonit` (Debian package) to build podman's pause image.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from phoenix.dev.probes import free_port
from tests.conftest import require
from tests.images import role_image

pytestmark = [pytest.mark.slow, pytest.mark.needs_root, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
# Until /readyz answers 200; generous, the first start of a container on a busy machine is slow.
READY_WITHIN = 120.0


def _docs(filename: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((MANIFESTS / filename).read_text()) if doc]


def _named(filename: str, kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in _docs(filename) if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def _podman(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def config_image() -> str:
    require("catatonit", shutil.which("catatonit") is not None, "Debian package catatonit")
    return role_image("config")  # target `config` of the Containerfile, built if need be


def _podman_version() -> tuple[int, int]:
    version = _podman("version", "--format", "{{.Client.Version}}").stdout.strip()
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - http://127.0.0.1
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def adapted(
    image: str, secret_name: str, port: int, ops_port: int, directory_url: str
) -> dict[str, Any]:
    deployment = copy.deepcopy(_named("config.yaml", "Deployment", "phoenix-config"))
    deployment["metadata"]["name"] = f"phoenix-config-{secret_name[-8:]}"
    spec = deployment["spec"]
    spec["replicas"] = 1
    pod = spec["template"]["spec"]
    pod["hostNetwork"] = True
    for volume in pod["volumes"]:
        if "secret" in volume:
            volume["secret"].update(secretName=secret_name, optional=False)
    (container,) = pod["containers"]
    container["image"] = image
    container["imagePullPolicy"] = "Never"
    args = container["args"]
    args[args.index("--port") + 1] = str(port)
    # On the host's network there is nothing to map (podman refuses port mappings there), so
    # the named ports go and the probes name the numbers.
    numbers = {"http": port, "ops": ops_port}
    del container["ports"]
    for probe in ("livenessProbe", "readinessProbe"):
        get = container[probe]["httpGet"]
        get["port"] = numbers[get["port"]]
    overrides = {
        "PHOENIX_ENV": "test",
        "PHOENIX_OPS_PORT": str(ops_port),
        "PHOENIX_ISSUER_DIRECTORY_URL": directory_url,
        "PHOENIX_ISSUER_NAME": "auth.phoenix.test",
        "PHOENIX_ORIGIN_NAME": "config.phoenix.test",
    }
    for item in container["env"]:
        if item["name"] in overrides:
            item["value"] = overrides.pop(item["name"])
    assert not overrides, f"the shipped Deployment lacks {sorted(overrides)}"
    return deployment


@pytest.fixture
def played(
    config_image: str,
    migrated_database: Callable[[str], str],
    redis_url: str,
    issuer_directory: Any,
    tmp_path: Path,
) -> Iterator[tuple[Path, int, int]]:
    tag = uuid.uuid4().hex[:8]
    secret = copy.deepcopy(_named("secrets.example.yaml", "Secret", "phoenix-config"))
    values = {
        "NODEDB_URL": migrated_database("nodedb"),
        "REDIS_URL": redis_url,
        "MONITOR_TOKEN": "kube-play-monitor-token-" + uuid.uuid4().hex,
        "OPERATOR_TOKEN": "kube-play-operator-token-" + uuid.uuid4().hex,
        "NODE_AWS_CERTIFICATES": "",
    }
    assert set(values) == set(secret["stringData"])  # every key the shipped Secret has
    secret["metadata"]["name"] = f"phoenix-config-{tag}"
    del secret["stringData"]
    if _podman_version() <= (4, 3):
        secret["data"] = values  # written verbatim by podman 4.3 (see the module's docstring)
    else:
        secret["stringData"] = values
    secret_file = tmp_path / "secret.yaml"
    secret_file.write_text(yaml.safe_dump(secret))
    created = _podman("secret", "create", secret["metadata"]["name"], str(secret_file))
    assert created.returncode == 0, created.stderr

    port, ops_port = free_port(), free_port()
    kube = tmp_path / "config.yaml"
    kube.write_text(
        yaml.safe_dump(
            adapted(config_image, secret["metadata"]["name"], port, ops_port, issuer_directory.url)
        )
    )
    try:
        yield kube, port, ops_port
    finally:
        _podman("kube", "down", str(kube))
        _podman("secret", "rm", secret["metadata"]["name"])
        pod = f"{yaml.safe_load(kube.read_text())['metadata']['name']}-pod-0"
        assert _podman("pod", "exists", pod).returncode != 0, f"{pod} left behind"


def test_the_config_deployment_plays_and_becomes_ready(played: tuple[Path, int, int]) -> None:
    kube, port, ops_port = played
    started = time.monotonic()
    play = _podman("kube", "play", str(kube))
    assert play.returncode == 0, play.stdout + play.stderr
    pod = f"{yaml.safe_load(kube.read_text())['metadata']['name']}-pod-0"  # podman's naming
    ready = 0
    while time.monotonic() - started < READY_WITHIN:
        ready = _get(f"http://127.0.0.1:{ops_port}/readyz")
        if ready == 200:
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    logs = _podman("pod", "logs", pod).stdout[-3000:] if ready != 200 else ""
    assert ready == 200, f"/readyz answered {ready} after {elapsed:.0f} s; logs:\n{logs}"
    print(f"kube play: /readyz 200 after {elapsed:.1f} s")

    # The public port serves /healthz and not the ops routes; the ops port serves /readyz.
    assert _get(f"http://127.0.0.1:{port}/healthz") == 200
    assert _get(f"http://127.0.0.1:{port}/readyz") == 404
    # The container ran as shipped: non-root, and its root filesystem read-only.
    container = f"{pod}-config"
    probe = _podman(
        "exec",
        container,
        "python3",
        "-c",
        "import os, pathlib\n"
        "print(os.getuid())\n"
        "try:\n pathlib.Path('/app/x').write_text('x'); print('writable')\n"
        "except OSError: print('read-only')\n"
        "pathlib.Path('/tmp/x').write_text('x'); print('tmp ok')\n"
        "print(sorted(os.listdir('/run/secrets/phoenix')))",
    )
    assert probe.returncode == 0, probe.stderr
    lines = probe.stdout.splitlines()
    assert lines[0] == "10001"
    assert lines[1] == "read-only"
    assert lines[2] == "tmp ok"
    assert "NODEDB_URL" in lines[3]

"""deploy/kubernetes: valid against the Kubernetes API schemas, hardened, and the import
contracts (importlinter.ini) mirrored in the NetworkPolicies.

Every check is a function over the parsed manifests, so the same function runs on the shipped
files and on a copy with one violation planted (``PLANTS``), which it must reject — as
tests/unit/test_import_contracts.py does for lint-imports. checkov runs on the directory, and
once on a copy with a planted violation.
"""

from __future__ import annotations

import configparser
import contextlib
import copy
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from phoenix import __version__
from phoenix.app import DEFAULT_OPS_PORTS, DEFAULT_PORTS, ROLES, settings_type
from phoenix.settings import documented_variables, secret_fields, variable_name
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
# The oldest Kubernetes release the manifests promise to work on (autoscaling/v2, policy/v1,
# PodSecurity admission, seccompProfile fields are all GA there). Strict: unknown fields fail.
KUBERNETES_VERSION = "1.30.0"
NAMESPACE = "phoenix"
SECRETS_DIR = "/run/secrets/phoenix"
UID = 10001

# Custom resources kubernetes-validate has no schema for: checked by check_secret_providers.
CRD_KINDS = {("secrets-store.csi.x-k8s.io/v1", "SecretProviderClass")}
WORKLOAD_KINDS = {"Deployment", "Job"}

# The migrate Jobs: database -> (owning role, the URL variable the Job reads).
MIGRATIONS = {
    "userdb": ("auth", "PHOENIX_USERDB_URL"),
    "nodedb": ("config", "PHOENIX_NODEDB_URL"),
    "analytics": ("analytics", "PHOENIX_CLICKHOUSE_URL"),
}

Doc = dict[str, Any]
Docs = list[tuple[str, Doc]]


def _namespace(name: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _pods(namespace: str, key: str, value: str) -> dict[str, Any]:
    pods = {"matchLabels": {key: value}}
    return {"namespaceSelector": _namespace(namespace), "podSelector": pods}


def _store(name: str) -> dict[str, Any]:
    return _pods("phoenix-data", "app.kubernetes.io/name", name)


# Every peer a policy may name, by name. A peer of any other shape is "unknown" and fails.
PRIVATE_RANGES = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",  # link-local: the instance metadata service
    "127.0.0.0/8",
]
PEERS: dict[str, dict[str, Any]] = {
    "kube-dns": _pods("kube-system", "k8s-app", "kube-dns"),
    "postgres-userdb": _store("postgres-userdb"),
    "postgres-nodedb": _store("postgres-nodedb"),
    "redis-config": _store("redis-config"),
    "redis-worker": _store("redis-worker"),
    "clickhouse": _store("clickhouse"),
    "ingress-controller": _pods("ingress-nginx", "app.kubernetes.io/name", "ingress-nginx"),
    "prometheus": _pods("monitoring", "app.kubernetes.io/name", "prometheus"),
    "internet": {"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}},
}
# Which role owns each data store (DESIGN §1: one owner per database). importlinter.ini's
# `layers` contract keeps the roles independent, so a store is reachable by its owner (and the
# owner's migration) only.
STORE_OWNER = {
    "postgres-userdb": "auth",
    "postgres-nodedb": "config",
    "redis-config": "config",
    "redis-worker": "worker",
    "clickhouse": "analytics",
}
SQL_STORES = {"postgres-userdb", "postgres-nodedb"}
# Roles with Internet egress, and why. importlinter.ini's identity-stays-in-auth keeps
# Firebase, Stripe and Apple in auth; the worker's reason is none of those (and a NetworkPolicy
# cannot name hosts: see the header of network-policies.yaml).
INTERNET_REASONS = {
    "auth": "Firebase/Google, Stripe and Apple (identity-stays-in-auth: only auth imports them)",
    "worker": "the blocklist source, S3 and the AWS Auto Scaling/EC2 APIs",
}

DNS = {("kube-dns", "UDP", 53), ("kube-dns", "TCP", 53)}
# What each pod may reach: (peer, protocol, port). Exactly these, no more, no fewer.
EXPECTED_EGRESS: dict[str, set[tuple[str, str, int]]] = {
    # auth-never-sees-the-network: no NodeDB, Redis or ClickHouse; UserDB and the identity and
    # payment APIs (Apple's OCSP responder is plain HTTP on 80).
    "phoenix-auth": DNS
    | {("postgres-userdb", "TCP", 5432), ("internet", "TCP", 443), ("internet", "TCP", 80)},
    # identity-stays-in-auth: no UserDB, no Internet (so no Firebase, Stripe, Apple); the auth
    # role's public issuer directory through the TLS-terminating ingress controller.
    "phoenix-config": DNS
    | {
        ("postgres-nodedb", "TCP", 5432),
        ("redis-config", "TCP", 6379),
        ("ingress-controller", "TCP", 443),
    },
    # analytics-is-blind: no SQL database, no other role; ClickHouse only.
    "phoenix-analytics": DNS | {("clickhouse", "TCP", 9000)},
    # worker-goes-through-apis: no database of any role; its own Redis (broker and schedule
    # locks), the roles' APIs through the ingress controller, and the Internet on 443.
    "phoenix-worker": DNS
    | {("redis-worker", "TCP", 6379), ("ingress-controller", "TCP", 443), ("internet", "TCP", 443)},
    "phoenix-migrate-userdb": DNS | {("postgres-userdb", "TCP", 5432)},
    "phoenix-migrate-nodedb": DNS | {("postgres-nodedb", "TCP", 5432)},
    "phoenix-migrate-analytics": DNS | {("clickhouse", "TCP", 9000)},
}
# Who may reach each pod: the public port from the ingress controller (the worker serves no
# API), the ops port from Prometheus; a migration from nobody.
EXPECTED_INGRESS: dict[str, set[tuple[str, str, int]]] = {
    **{
        f"phoenix-{role}": {("prometheus", "TCP", DEFAULT_OPS_PORTS[role])}
        | ({("ingress-controller", "TCP", DEFAULT_PORTS[role])} if role != "worker" else set())
        for role in ROLES
    },
    **{f"phoenix-migrate-{database}": set() for database in MIGRATIONS},
}
# Roles whose public port a Service carries: every role that serves an API. Nothing calls the
# worker (it only calls out), so it has no Service.
SERVED_ROLES = ("auth", "config", "analytics")


# ---- loading ---------------------------------------------------------------------------------


def load(directory: Path) -> Docs:
    docs: Docs = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


@pytest.fixture(scope="module")
def shipped() -> Docs:
    docs = load(MANIFESTS)
    assert docs, f"no manifests in {MANIFESTS}"
    return docs


def of_kind(docs: Docs, kind: str) -> list[Doc]:
    return [doc for _, doc in docs if doc.get("kind") == kind]


def named(docs: Docs, kind: str, name: str) -> Doc:
    found = [doc for doc in of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def workloads(docs: Docs) -> Iterator[Doc]:
    for _, doc in docs:
        if doc.get("kind") in WORKLOAD_KINDS:
            yield doc


def pod_spec(workload: Doc) -> Doc:
    spec: Doc = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Doc) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def role_of(workload: Doc) -> str:
    """The role whose settings a workload's container reads (a migration: the owner's)."""
    name = workload["metadata"]["name"]
    if name.startswith("phoenix-migrate-"):
        return MIGRATIONS[name.removeprefix("phoenix-migrate-")][0]
    return name.removeprefix("phoenix-")


def port_number(container: Doc, port: int | str) -> int:
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert len(numbers) == 1, f"port {port!r} is not one named port of {container['name']}"
    return int(numbers[0])


def env_of(container: Doc) -> dict[str, Doc]:
    return {item["name"]: item for item in container.get("env", [])}


# ---- checks: each raises AssertionError naming what is wrong ---------------------------------


def check_schemas(docs: Docs) -> None:
    for filename, doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) in CRD_KINDS:
            continue  # no schema in kubernetes-validate: check_secret_providers covers these
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(part) for part in error.path)
            raise AssertionError(f"{filename}: {doc['kind']} at {path}: {error.message}") from None
        except kubernetes_validate.SchemaNotFoundError as error:
            raise AssertionError(f"{filename}: {error.message}") from None


def check_namespaced(docs: Docs) -> None:
    for filename, doc in docs:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
            labels = doc["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted", filename
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, (filename, doc["kind"])


def check_hardening(docs: Docs) -> None:
    for account in of_kind(docs, "ServiceAccount"):
        assert account.get("automountServiceAccountToken") is False, account["metadata"]["name"]
    for workload in workloads(docs):
        name = workload["metadata"]["name"]
        spec = pod_spec(workload)
        assert spec.get("automountServiceAccountToken") is False, f"{name}: token mounted"
        assert spec["serviceAccountName"] == f"phoenix-{role_of(workload)}", name
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host), f"{name}: {host}"
        pod = spec.get("securityContext", {})
        assert pod.get("runAsNonRoot") is True, f"{name}: pod runAsNonRoot"
        assert pod.get("runAsUser") == UID, f"{name}: pod runAsUser"
        assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}, f"{name}: pod seccomp"
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in containers(workload):
            where = f"{name}/{container['name']}"
            context = container.get("securityContext", {})
            assert context.get("runAsNonRoot") is True, f"{where}: runAsNonRoot"
            assert context.get("runAsUser") == UID, f"{where}: runAsUser"
            assert context.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem"
            assert context.get("allowPrivilegeEscalation") is False, f"{where}: escalation"
            assert not context.get("privileged"), f"{where}: privileged"
            capabilities = context.get("capabilities", {})
            assert capabilities.get("drop") == ["ALL"], f"{where}: capabilities not dropped"
            assert not capabilities.get("add"), f"{where}: capabilities added"
            assert context.get("seccompProfile") == {"type": "RuntimeDefault"}, f"{where}: seccomp"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    assert resource in resources.get(bound, {}), f"{where}: {bound}.{resource}"
            mounts = {mount["mountPath"]: mount for mount in container.get("volumeMounts", [])}
            # The root filesystem is read-only: /tmp is a bounded in-memory emptyDir.
            assert "/tmp" in mounts, f"{where}: no writable /tmp"
            tmp = volumes[mounts["/tmp"]["name"]]
            assert tmp.get("emptyDir", {}).get("sizeLimit"), f"{where}: /tmp unbounded"


def check_roles_complete(docs: Docs) -> None:
    for role in ROLES:
        name = f"phoenix-{role}"
        named(docs, "ServiceAccount", name)
        deployment = named(docs, "Deployment", name)
        assert deployment["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert pod_labels(deployment)["app.kubernetes.io/name"] == name
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"registry.example/phoenix-{role}:{__version__}", name
        assert container["args"][:2] == ["--role", role], f"{name}: not started as {role}"
        assert "command" not in container, f"{name}: the image's `phoenix serve` is the entry"
        hpa = named(docs, "HorizontalPodAutoscaler", name)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], name
        assert deployment["spec"]["replicas"] >= hpa["spec"]["minReplicas"], name
        pdb = named(docs, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        assert pdb["spec"].get("minAvailable", 0) < hpa["spec"]["minReplicas"], (
            f"{name}: a PDB as large as the smallest scale blocks every node drain"
        )
        services = [
            s
            for s in of_kind(docs, "Service")
            if s["spec"].get("selector", {}).get("app.kubernetes.io/name") == name
        ]
        assert len(services) == (1 if role in SERVED_ROLES else 0), f"{name}: Services"
    for database in MIGRATIONS:
        named(docs, "Job", f"phoenix-migrate-{database}")


def check_probes(docs: Docs) -> None:
    for role in ROLES:
        deployment = named(docs, "Deployment", f"phoenix-{role}")
        (container,) = pod_spec(deployment)["containers"]
        public, ops = DEFAULT_PORTS[role], DEFAULT_OPS_PORTS[role]
        args = container["args"]
        assert args[args.index("--port") + 1] == str(public), f"{role}: public port"
        assert env_of(container)["PHOENIX_OPS_PORT"]["value"] == str(ops), f"{role}: ops port"
        live = container["livenessProbe"]["httpGet"]
        assert live["path"] == "/healthz", f"{role}: liveness path"
        assert port_number(container, live["port"]) == public, f"{role}: liveness port"
        ready = container["readinessProbe"]["httpGet"]
        assert ready["path"] == "/readyz", f"{role}: readiness path"
        assert port_number(container, ready["port"]) == ops, f"{role}: readiness port"


def check_services(docs: Docs) -> None:
    ops_ports = set(DEFAULT_OPS_PORTS.values())
    for service in of_kind(docs, "Service"):
        name = service["metadata"]["name"]
        target = named(docs, "Deployment", service["spec"]["selector"]["app.kubernetes.io/name"])
        (container,) = pod_spec(target)["containers"]
        ops = {port_number(container, "ops")}
        for port in service["spec"]["ports"]:
            for value in (port["port"], port.get("targetPort", port["port"])):
                number = port_number(container, value)
                assert number not in ops | ops_ports, f"Service {name} exposes ops port {number}"
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", f"{name}: not ClusterIP"


def _secret_variables(role: str) -> set[str]:
    return {variable_name(field) for field in secret_fields(settings_type(role))}


def _allowed_variables(workload: Doc) -> set[str]:
    name = workload["metadata"]["name"]
    if name.startswith("phoenix-migrate-"):
        return {MIGRATIONS[name.removeprefix("phoenix-migrate-")][1] + "_FILE"}
    return set(documented_variables(settings_type(role_of(workload))))


def check_secrets(docs: Docs) -> None:
    secret_keys = {
        secret["metadata"]["name"]: set(secret.get("stringData", {}) | secret.get("data", {}))
        for secret in of_kind(docs, "Secret")
    }
    for role in ROLES:
        # A role's Secret holds exactly what its settings call secret, and no other role's.
        expected = {v.removeprefix("PHOENIX_") for v in _secret_variables(role)}
        assert secret_keys.get(f"phoenix-{role}") == expected, f"Secret phoenix-{role}"
    for workload in workloads(docs):
        name = workload["metadata"]["name"]
        role = role_of(workload)
        secret_variables = _secret_variables(role)
        volumes = {volume["name"]: volume for volume in pod_spec(workload).get("volumes", [])}
        for container in containers(workload):
            where = f"{name}/{container['name']}"
            assert "envFrom" not in container, f"{where}: envFrom"
            env = env_of(container)
            unknown = set(env) - _allowed_variables(workload)
            assert not unknown, f"{where}: variables its settings do not read: {sorted(unknown)}"
            for variable, item in env.items():
                assert "valueFrom" not in item, f"{where}: {variable} from a Secret in the env"
                assert variable not in secret_variables, f"{where}: {variable} given in the env"
            files = {v for v in env if v.endswith("_FILE")}
            if not name.startswith("phoenix-migrate-"):
                missing = {v + "_FILE" for v in secret_variables} - files
                assert not missing, f"{where}: secrets not given as files: {sorted(missing)}"
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            secrets_mount = mounts.get(SECRETS_DIR)
            assert secrets_mount is not None, f"{where}: no {SECRETS_DIR}"
            assert secrets_mount.get("readOnly") is True, f"{where}: secrets writable"
            source = volumes[secrets_mount["name"]]["secret"]
            assert source["secretName"] == f"phoenix-{role}", f"{where}: another role's Secret"
            mounted = {item["path"] for item in source.get("items", [])} or secret_keys.get(
                source["secretName"], set()
            )
            for variable in files:
                key = variable.removeprefix("PHOENIX_").removesuffix("_FILE")
                assert env[variable]["value"] == f"{SECRETS_DIR}/{key}", f"{where}: {variable}"
                assert key in mounted, f"{where}: {variable} names a file not mounted"


def check_secret_providers(docs: Docs) -> None:
    """The SecretProviderClass CRDs, without a schema: structure, and the same boundaries."""
    secrets = {s["metadata"]["name"]: s for s in of_kind(docs, "Secret")}
    providers = {p["metadata"]["name"]: p for p in of_kind(docs, "SecretProviderClass")}
    assert set(providers) == {f"phoenix-{role}" for role in ROLES}
    for name, provider in providers.items():
        role = name.removeprefix("phoenix-")
        assert provider["apiVersion"] == "secrets-store.csi.x-k8s.io/v1"
        assert set(provider) == {"apiVersion", "kind", "metadata", "spec"}, name
        assert set(provider["spec"]) == {"provider", "parameters"}, f"{name}: secretObjects?"
        assert provider["spec"]["provider"] == "aws"
        assert set(provider["spec"]["parameters"]) == {"objects"}, name
        objects = yaml.safe_load(provider["spec"]["parameters"]["objects"])
        assert isinstance(objects, list), name
        aliases = set()
        for item in objects:
            assert set(item) == {"objectName", "objectType", "objectAlias"}, f"{name}: {item}"
            assert item["objectType"] == "secretsmanager", f"{name}: {item}"
            prefix, owner, secret_id = item["objectName"].split("/")
            assert prefix == "phoenix", f"{name}: {item}"
            assert owner in ROLES, f"{name}: {item}"
            # Another role's object only when the settings field says so: the credential the
            # owner checks (e.g. the worker holds config's MONITOR_TOKEN) — never an owner's
            # store URL or its operator credential.
            if owner != role:
                assert secret_id in SHARED_CREDENTIALS.get((role, owner), set()), (
                    f"{name}: {item['objectName']} is {owner}'s"
                )
            aliases.add(item["objectAlias"])
        assert aliases == set(secrets[name]["stringData"]), f"{name}: files differ from Secret"


# Credentials a role holds that another role checks: (holder, owner) -> Secrets Manager ids.
SHARED_CREDENTIALS = {
    ("worker", "config"): {"MONITOR_TOKEN"},
    ("worker", "analytics"): {"OPERATOR_TOKEN"},
    ("worker", "auth"): {"AUTH_ADMIN_TOKEN"},
}


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"selector {selector}: only matchLabels is read here"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_name(peer: Doc) -> str:
    for name, shape in PEERS.items():
        if peer == shape:
            return name
    return "unknown peer " + json.dumps(peer, sort_keys=True)


def _rule_set(
    rule: Doc, peers_key: str, container: Doc, labels: dict[str, str]
) -> set[tuple[str, str, int | str]]:
    peers = [_peer_name(peer) for peer in rule.get(peers_key, [])] or ["anyone"]
    ports = rule.get("ports") or [{"protocol": "any", "port": "any"}]
    found: set[tuple[str, str, int | str]] = set()
    for peer in peers:
        for port in ports:
            number = port.get("port", "any")
            if isinstance(number, str) and number != "any" and peers_key == "from":
                number = port_number(container, number)
            assert "endPort" not in port, f"{labels}: a port range"
            found.add((peer, port.get("protocol", "TCP"), number))
    return found


def check_network_policies(docs: Docs) -> None:
    policies = of_kind(docs, "NetworkPolicy")
    deny = [
        p
        for p in policies
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert deny, "no default deny of ingress and egress for the whole namespace"
    seen = set()
    for workload in workloads(docs):
        name = workload["metadata"]["name"]
        labels = pod_labels(workload)
        (container,) = pod_spec(workload)["containers"]
        egress: set[tuple[str, str, int | str]] = set()
        ingress: set[tuple[str, str, int | str]] = set()
        selected = False
        for policy in policies:
            spec = policy["spec"]
            if not _selects(spec["podSelector"], labels):
                continue
            selected = selected or bool(spec["podSelector"])
            types = set(spec.get("policyTypes", []))
            assert types, f"{policy['metadata']['name']}: policyTypes must be explicit"
            assert spec.get("egress") is None or "Egress" in types, policy["metadata"]["name"]
            assert spec.get("ingress") is None or "Ingress" in types, policy["metadata"]["name"]
            for rule in spec.get("egress", []):
                egress |= _rule_set(rule, "to", container, labels)
            for rule in spec.get("ingress", []):
                ingress |= _rule_set(rule, "from", container, labels)
        assert selected, f"{name}: no policy of its own"
        assert egress == EXPECTED_EGRESS[name], (
            f"{name} egress: extra {sorted(map(str, egress - EXPECTED_EGRESS[name]))}, "
            f"missing {sorted(map(str, EXPECTED_EGRESS[name] - egress))}"
        )
        assert ingress == EXPECTED_INGRESS[name], (
            f"{name} ingress: extra {sorted(map(str, ingress - EXPECTED_INGRESS[name]))}, "
            f"missing {sorted(map(str, EXPECTED_INGRESS[name] - ingress))}"
        )
        seen.add(name)
    assert seen == set(EXPECTED_EGRESS), f"pods without expectations: {seen ^ set(EXPECTED_EGRESS)}"


def check_skip_reasons(docs: Docs) -> None:
    """Every checkov skip names a check and says why, in place."""
    for filename, doc in docs:
        for key, value in (doc["metadata"].get("annotations") or {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = str(value).partition("=")
                assert check.startswith("CKV"), f"{filename}: {key}={value}"
                assert len(reason.split()) >= 5, f"{filename}: {check} skipped without a reason"


CHECKS: dict[str, Callable[[Docs], None]] = {
    "schemas": check_schemas,
    "namespaced": check_namespaced,
    "hardening": check_hardening,
    "roles_complete": check_roles_complete,
    "probes": check_probes,
    "services": check_services,
    "secrets": check_secrets,
    "secret_providers": check_secret_providers,
    "network_policies": check_network_policies,
    "skip_reasons": check_skip_reasons,
}


@pytest.mark.parametrize("check", list(CHECKS))
def test_the_shipped_manifests_pass(check: str, shipped: Docs) -> None:
    CHECKS[check](shipped)


def test_kubernetes_validate_knows_every_kind_but_the_declared_custom_ones(shipped: Docs) -> None:
    kinds = {(doc["apiVersion"], doc["kind"]) for _, doc in shipped}
    assert kinds & CRD_KINDS == CRD_KINDS  # the CRD check is not vacuous
    for api_version, kind in kinds - CRD_KINDS:
        doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
        # A schema exists (the stub is merely incomplete) or SchemaNotFoundError fails here.
        with contextlib.suppress(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_egress_table_keeps_the_import_contracts() -> None:
    """The expected peers above follow importlinter.ini, read here rather than restated."""
    contracts = configparser.ConfigParser()
    contracts.read(ROOT / "importlinter.ini")
    layers = [
        [part.strip() for part in line.split("|")]
        for line in contracts["importlinter:contract:layers"]["layers"].split("\n")
        if line.strip()
    ]
    assert [f"{role}" for role in ROLES] in layers  # the roles are one layer: independent
    for section in contracts.sections():
        if not section.startswith("importlinter:contract:"):
            continue
        contract = contracts[section]
        if contract.get("type") != "forbidden":
            continue
        sources = contract["source_modules"].split()
        forbidden = set(contract["forbidden_modules"].split())
        for source in sources:
            role = source.removeprefix("phoenix.")
            if role not in ROLES:
                continue
            peers = {peer for peer, _, _ in EXPECTED_EGRESS[f"phoenix-{role}"]}
            if forbidden & {"sqlalchemy", "psycopg"}:
                assert not peers & SQL_STORES, f"{role}: {section} forbids SQL"
            if forbidden & {"clickhouse_driver", "chdb"}:
                assert "clickhouse" not in peers, f"{role}: {section} forbids ClickHouse"
            if forbidden & {"firebase_admin", "stripe", "appstoreserverlibrary"}:
                assert "internet" not in peers or role in INTERNET_REASONS, f"{role}: {section}"
    for pod, allowed in EXPECTED_EGRESS.items():
        role = MIGRATIONS[pod.removeprefix("phoenix-migrate-")][0] if "migrate" in pod else None
        role = role or pod.removeprefix("phoenix-")
        for peer, _, _ in allowed:
            if peer in STORE_OWNER:
                assert STORE_OWNER[peer] == role, f"{pod} reaches {peer}, {STORE_OWNER[peer]}'s"
            if peer == "internet":
                assert role in INTERNET_REASONS, f"{pod}: Internet egress without a reason"


# ---- checkov ---------------------------------------------------------------------------------


def run_checkov(directory: Path) -> dict[str, Any]:
    require("checkov", CHECKOV.exists(), f"{CHECKOV}: `make deps` installs it")
    # --skip-download: no call to Prisma Cloud for guidelines (offline, and nothing sent).
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(directory),
            "--framework",
            "kubernetes",
            "--compact",
            "--skip-download",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.stdout.strip(), result.stderr[-2000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


@pytest.mark.slow
def test_checkov_finds_nothing_and_every_skip_is_justified(shipped: Docs) -> None:
    report = run_checkov(MANIFESTS)
    results = report["results"]
    failed = [f"{f['check_id']} {f['resource']}" for f in results["failed_checks"]]
    assert not failed
    assert not results["parsing_errors"]
    # The resources checkov scanned are the ones loaded here (it read every file).
    scanned = {f["resource"] for f in results["passed_checks"]}
    for workload in workloads(shipped):
        assert f"{workload['kind']}.{NAMESPACE}.{workload['metadata']['name']}" in scanned
    annotated = {
        (f"{doc['kind']}.{NAMESPACE}.{doc['metadata']['name']}", value.partition("=")[0])
        for _, doc in shipped
        for key, value in (doc["metadata"].get("annotations") or {}).items()
        if key.startswith("checkov.io/skip")
    }
    skipped = {(f["resource"], f["check_id"]) for f in results["skipped_checks"]}
    assert skipped == annotated  # a skip is only ever the annotated one


# ---- planted violations: each check fails once -----------------------------------------------


def _deployment(docs: Docs, role: str) -> Doc:
    return named(docs, "Deployment", f"phoenix-{role}")


def _container(docs: Docs, role: str) -> Doc:
    container: Doc = pod_spec(_deployment(docs, role))["containers"][0]
    return container


def _policy(docs: Docs, name: str) -> Doc:
    return named(docs, "NetworkPolicy", name)


def _writable_root(docs: Docs) -> None:
    _container(docs, "config")["securityContext"]["readOnlyRootFilesystem"] = False


def _token_mounted(docs: Docs) -> None:
    pod_spec(named(docs, "Job", "phoenix-migrate-nodedb"))["automountServiceAccountToken"] = True


def _unknown_field(docs: Docs) -> None:
    _container(docs, "auth")["securityContexts"] = {}


def _outside_the_namespace(docs: Docs) -> None:
    del named(docs, "PodDisruptionBudget", "phoenix-analytics")["metadata"]["namespace"]


def _no_autoscaler(docs: Docs) -> None:
    hpa = named(docs, "HorizontalPodAutoscaler", "phoenix-worker")
    docs[:] = [(f, d) for f, d in docs if d is not hpa]


def _liveness_on_ops(docs: Docs) -> None:
    _container(docs, "config")["livenessProbe"]["httpGet"]["port"] = "ops"


def _ops_in_service(docs: Docs) -> None:
    named(docs, "Service", "phoenix-auth")["spec"]["ports"].append(
        {"name": "metrics", "port": 9081, "targetPort": "ops", "protocol": "TCP"}
    )


def _secret_in_env(docs: Docs) -> None:
    _container(docs, "config")["env"].append(
        {"name": "PHOENIX_NODEDB_URL", "value": "postgresql://u:pw@db/phoenix_nodes"}
    )


def _another_roles_secret(docs: Docs) -> None:
    named(docs, "Secret", "phoenix-worker")["stringData"]["NODEDB_URL"] = "postgresql://x"


def _worker_holds_config_operator(docs: Docs) -> None:
    provider = named(docs, "SecretProviderClass", "phoenix-worker")
    objects = yaml.safe_load(provider["spec"]["parameters"]["objects"])
    for item in objects:
        if item["objectAlias"] == "OPERATOR_TOKEN":
            item["objectName"] = "phoenix/config/OPERATOR_TOKEN"
    provider["spec"]["parameters"]["objects"] = yaml.safe_dump(objects)


def _auth_reaches_nodedb(docs: Docs) -> None:
    _policy(docs, "phoenix-auth")["spec"]["egress"].append(
        {"to": [copy.deepcopy(PEERS["postgres-nodedb"])], "ports": [{"port": 5432}]}
    )


def _analytics_any_port(docs: Docs) -> None:
    del _policy(docs, "phoenix-analytics")["spec"]["egress"][0]["ports"]


def _internet_with_metadata(docs: Docs) -> None:
    rule = _policy(docs, "phoenix-worker")["spec"]["egress"][-1]
    rule["to"][0]["ipBlock"]["except"].remove("169.254.0.0/16")


def _ops_from_anywhere(docs: Docs) -> None:
    ingress = _policy(docs, "phoenix-config")["spec"]["ingress"]
    ingress[-1]["from"] = [{"namespaceSelector": {}}]


def _no_default_deny(docs: Docs) -> None:
    policy = _policy(docs, "phoenix-default-deny")
    policy["spec"]["policyTypes"] = ["Ingress"]


def _skip_without_reason(docs: Docs) -> None:
    _deployment(docs, "worker")["metadata"]["annotations"]["checkov.io/skip2"] = "CKV_K8S_22="


# (name, plant, the check that must reject it, a word of its message)
PLANTS: list[tuple[str, Callable[[Docs], None], str, str]] = [
    ("writable root filesystem", _writable_root, "hardening", "readOnlyRootFilesystem"),
    ("service account token in a Job", _token_mounted, "hardening", "token mounted"),
    ("a field no schema knows", _unknown_field, "schemas", "securityContexts"),
    ("a resource in the default namespace", _outside_the_namespace, "namespaced", "Disruption"),
    ("worker without autoscaler", _no_autoscaler, "roles_complete", "phoenix-worker"),
    ("liveness on the ops port", _liveness_on_ops, "probes", "liveness port"),
    ("ops port in a Service", _ops_in_service, "services", "exposes ops port 9081"),
    ("a secret in the environment", _secret_in_env, "secrets", "PHOENIX_NODEDB_URL"),
    ("another role's secret in a Secret", _another_roles_secret, "secrets", "phoenix-worker"),
    (
        "the worker holds config's operator token",
        _worker_holds_config_operator,
        "secret_providers",
        "config's",
    ),
    ("auth reaches NodeDB", _auth_reaches_nodedb, "network_policies", "postgres-nodedb"),
    ("analytics egress on any port", _analytics_any_port, "network_policies", "'any'"),
    ("Internet egress reaching metadata", _internet_with_metadata, "network_policies", "unknown"),
    ("ops port open to any namespace", _ops_from_anywhere, "network_policies", "unknown"),
    ("no default deny of egress", _no_default_deny, "network_policies", "default deny"),
    ("a checkov skip without a reason", _skip_without_reason, "skip_reasons", "CKV_K8S_22"),
]


@pytest.mark.parametrize(
    ("plant", "check", "word"),
    [pytest.param(plant, check, word, id=name) for name, plant, check, word in PLANTS],
)
def test_a_planted_violation_fails_its_check(
    plant: Callable[[Docs], None], check: str, word: str, shipped: Docs
) -> None:
    docs = copy.deepcopy(shipped)
    CHECKS[check](docs)  # the untouched copy passes ...
    plant(docs)
    with pytest.raises(AssertionError) as failure:
        CHECKS[check](docs)  # ... the planted one does not
    assert word in str(failure.value)


def test_every_check_has_a_planted_violation() -> None:
    assert set(CHECKS) == {check for _, _, check, _ in PLANTS}


@pytest.mark.slow
def test_checkov_fails_on_a_planted_writable_root_filesystem(tmp_path: Path) -> None:
    copy_dir = tmp_path / "kubernetes"
    shutil.copytree(MANIFESTS, copy_dir)
    path = copy_dir / "config.yaml"
    text = path.read_text()
    assert text.count("readOnlyRootFilesystem: true") == 1
    path.write_text(text.replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"))
    report = run_checkov(copy_dir)
    failed = {(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]}
    assert failed == {("CKV_K8S_22", "Deployment.phoenix.phoenix-config")}

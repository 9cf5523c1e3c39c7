"""deploy/terraform/node-fleet, checked statically: the properties the exit-node fleet relies on.

No AWS and no provider download here: every ``.tf`` is parsed with python-hcl2 and its
properties asserted (IMDSv2, encryption, the shipped user data, WireGuard as the only way in,
the drain hook, target tracking on the worker's metric, an instance role that may do nothing
by default), then checkov scans the directory and must fail no check; each skip carries its
reason in place (``#checkov:skip=CKV_...:reason``). Each assertion and checkov are shown to
catch a planted violation in a temporary copy, as tests/unit/test_import_contracts.py does for
the import contracts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from phoenix.worker.fleet_metrics import DIMENSION, METRIC, NAMESPACE
from phoenix.worker.reaper import DRAIN_HOOK
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
MODULE = TERRAFORM / "node-fleet"
CLOUD_INIT = ROOT / "daemon" / "deploy" / "cloud-init.yaml"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
# EC2 takes at most 16 KB of user data before base64.
USER_DATA_LIMIT = 16 * 1024

OPTIONS = SerializationOptions(with_comments=False, strip_string_quotes=True, explicit_blocks=False)


# --- The module, parsed ---------------------------------------------------------------------


@dataclass
class Module:
    directory: Path
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}

    def value(self, expression: Any) -> Any:
        """A ``${local.x}`` reference resolved to the local's literal value, else as it is."""
        if isinstance(expression, str):
            match = re.fullmatch(r"\$\{local\.(\w+)\}", expression)
            if match:
                return self.locals[match.group(1)]
        return expression


def parse(directory: Path) -> Module:
    module = Module(directory)
    for path in sorted(directory.glob("*.tf")):
        parsed = hcl2.loads(path.read_text(), serialization_options=OPTIONS)
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    module.resources[(kind, name)] = body
        for block in parsed.get("data", []):
            for kind, named in block.items():
                for name, body in named.items():
                    module.data[(kind, name)] = body
        for block in parsed.get("locals", []):
            module.locals.update(block)
        for block in parsed.get("variable", []):
            module.variables.update(block)
        module.terraform.extend(parsed.get("terraform", []))
    return module


def one(blocks: Any) -> dict[str, Any]:
    """The single nested block (hcl2 gives a list of them)."""
    assert isinstance(blocks, list), blocks
    assert len(blocks) == 1, blocks
    block: dict[str, Any] = blocks[0]
    return block


# --- The properties, one function each (the planted tests below make each one fail) ---------


def check_imds_v2_only_one_hop_with_tags(module: Module) -> None:
    templates = module.of_type("aws_launch_template")
    assert templates, "no launch template"
    for template in templates.values():
        metadata = one(template["metadata_options"])
        assert metadata["http_endpoint"] == "enabled"
        assert metadata["http_tokens"] == "required"  # IMDSv2 only
        assert metadata["http_put_response_hop_limit"] == 1
        # cloud-init reads the tag phoenix:location from the instance metadata.
        assert metadata["instance_metadata_tags"] == "enabled"
        assert "key_name" not in template  # no SSH key pair


def check_root_volume_encrypted(module: Module) -> None:
    for template in module.of_type("aws_launch_template").values():
        ebs = one(one(template["block_device_mappings"])["ebs"])
        assert ebs["encrypted"] is True
        assert ebs["kms_key_id"] == "${var.kms_key_arn}"
    assert module.variables["kms_key_arn"]["default"] is None  # optional, never unencrypted


def filled_user_data(module: Module, values: dict[str, str]) -> str:
    """local.user_data evaluated: the file it reads, with each replace() applied in turn."""
    expression: str = module.locals["user_data"]
    (path,) = re.findall(r'file\("\$\{path\.module\}/([^"]+)"\)', expression)
    # The module sits at deploy/terraform/node-fleet of its tree (a copy's, in planted tests).
    root = module.directory.parents[2]
    read = (module.directory / path).resolve()
    assert read == (root / CLOUD_INIT.relative_to(ROOT)).resolve(), path
    text: str = read.read_text()
    assert text == CLOUD_INIT.read_text()
    for placeholder, variable in re.findall(r'"(__[A-Z0-9_]+__)", var\.(\w+)', expression):
        text = text.replace(placeholder, values[variable])
    return text


def check_user_data_is_the_shipped_cloud_init(module: Module) -> None:
    for template in module.of_type("aws_launch_template").values():
        assert template["user_data"] == "${base64encode(local.user_data)}"
    values = {
        "release_url": "https://releases.example/" + "r" * 400,
        "release_sha256": "0" * 64,
        "api_url": "https://config.example/" + "a" * 200,
    }
    text = filled_user_data(module, values)
    # Every placeholder the file has (read from the file itself) is filled, by a variable that
    # is validated; nothing per node and no secret is among them.
    assert re.findall(r"__[A-Z0-9_]+__", text) == []
    for variable in values:
        assert module.variables[variable].get("validation"), variable
    assert len(text.encode()) < USER_DATA_LIMIT


def check_only_wireguard_comes_in(module: Module) -> None:
    (group,) = module.of_type("aws_security_group").values()
    (ingress,) = group["ingress"]
    assert ingress["protocol"] == "udp"
    assert ingress["from_port"] == ingress["to_port"] == "${var.wireguard_port}"
    assert group["egress"], "no egress"
    for kind in (
        "aws_security_group_rule",
        "aws_vpc_security_group_ingress_rule",
        "aws_vpc_security_group_egress_rule",
    ):
        assert not module.of_type(kind), f"{kind}: a rule outside the group's own"
    templates = module.of_type("aws_launch_template").values()
    for template in templates:
        interface = one(template["network_interfaces"])
        assert interface["security_groups"] == ["${aws_security_group.node.id}"]


def check_drain_hook(module: Module) -> None:
    (hook,) = module.of_type("aws_autoscaling_lifecycle_hook").values()
    assert hook["for_each"] == "${var.locations}"
    assert hook["autoscaling_group_name"] == "${aws_autoscaling_group.node[each.key].name}"
    assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["default_result"] == "CONTINUE"
    assert hook["heartbeat_timeout"] == "${var.drain_heartbeat_timeout}"
    assert module.value(hook["name"]) == DRAIN_HOOK  # the name the reaper completes


def check_groups_per_location(module: Module) -> None:
    (group,) = module.of_type("aws_autoscaling_group").values()
    assert group["for_each"] == "${var.locations}"
    assert group["vpc_zone_identifier"] == "${each.value.subnet_ids}"
    assert one(group["launch_template"])["id"] == "${aws_launch_template.node[each.key].id}"
    (tags,) = group["dynamic"]
    assert "phoenix:location" in tags["tag"]["for_each"]
    for template in module.of_type("aws_launch_template").values():
        assert template["for_each"] == "${var.locations}"
        (instance,) = [
            t for t in template["tag_specifications"] if t["resource_type"] == "instance"
        ]
        assert re.search(r'"phoenix:location" = each\.key', instance["tags"])


def check_target_tracking_on_the_published_metric(module: Module) -> None:
    (policy,) = module.of_type("aws_autoscaling_policy").values()
    assert policy["for_each"] == "${var.locations}"
    assert policy["autoscaling_group_name"] == "${aws_autoscaling_group.node[each.key].name}"
    assert policy["policy_type"] == "TargetTrackingScaling"
    metric = one(one(policy["target_tracking_configuration"])["customized_metric_specification"])
    assert module.value(metric["namespace"]) == NAMESPACE
    assert module.value(metric["metric_name"]) == METRIC
    assert metric["statistic"] == "Average"
    dimension = one(metric["metric_dimension"])
    assert module.value(dimension["name"]) == DIMENSION
    assert dimension["value"] == "${each.key}"


def check_instance_role_grants_nothing_but_its_secret(module: Module) -> None:
    (role,) = module.of_type("aws_iam_role").values()
    assert "managed_policy_arns" not in role
    assert "inline_policy" not in role
    assume = one(module.data[("aws_iam_policy_document", "assume")]["statement"])
    assert assume["actions"] == ["sts:AssumeRole"]
    assert one(assume["principals"])["identifiers"] == ["ec2.amazonaws.com"]
    for kind in (
        "aws_iam_role_policy_attachment",
        "aws_iam_policy_attachment",
        "aws_iam_policy",
        "aws_iam_role_policies_exclusive",
    ):
        assert not module.of_type(kind), f"{kind}: the node role may hold one policy only"
    (policy,) = module.of_type("aws_iam_role_policy").values()
    switch = "${var.enrollment_secret_arn == null ? 0 : 1}"
    assert policy.get("count") == switch
    assert policy["policy"] == "${data.aws_iam_policy_document.enrollment_secret[0].json}"
    document = module.data[("aws_iam_policy_document", "enrollment_secret")]
    assert document.get("count") == switch
    statement = one(document["statement"])
    assert statement.get("effect", "Allow") == "Allow"
    assert statement["actions"] == ["secretsmanager:GetSecretValue"]
    assert statement["resources"] == ["${var.enrollment_secret_arn}"]
    assert not ({"not_actions", "not_resources", "principals", "condition"} & set(statement))
    assert module.variables["enrollment_secret_arn"]["default"] is None


def check_provider_pinned(module: Module) -> None:
    (terraform,) = module.terraform
    aws = one(terraform["required_providers"])["aws"]
    assert aws["source"] == "hashicorp/aws"
    # A lower and an upper bound: a new major provider is taken on purpose.
    assert re.search(r">=\s*5\.", aws["version"])
    assert re.search(r"<\s*6\.", aws["version"])


CHECKS: list[Callable[[Module], None]] = [
    check_imds_v2_only_one_hop_with_tags,
    check_root_volume_encrypted,
    check_user_data_is_the_shipped_cloud_init,
    check_only_wireguard_comes_in,
    check_drain_hook,
    check_groups_per_location,
    check_target_tracking_on_the_published_metric,
    check_instance_role_grants_nothing_but_its_secret,
    check_provider_pinned,
]


@pytest.fixture(scope="module")
def module() -> Module:
    return parse(MODULE)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_the_fleet_module_has_the_property(module: Module, check: Callable[[Module], None]) -> None:
    check(module)


# Each planted violation, in a copy of the module, makes exactly its own check fail.
PLANTED: list[tuple[Callable[[Module], None], str, str, str]] = [
    (
        check_imds_v2_only_one_hop_with_tags,
        "main.tf",
        'http_tokens                 = "required"',
        'http_tokens                 = "optional"',
    ),
    (
        check_imds_v2_only_one_hop_with_tags,
        "main.tf",
        "http_put_response_hop_limit = 1",
        "http_put_response_hop_limit = 2",
    ),
    (
        check_imds_v2_only_one_hop_with_tags,
        "main.tf",
        'instance_metadata_tags      = "enabled"',
        'instance_metadata_tags      = "disabled"',
    ),
    (
        check_root_volume_encrypted,
        "main.tf",
        "encrypted             = true",
        "encrypted             = false",
    ),
    (
        check_user_data_is_the_shipped_cloud_init,
        "main.tf",
        "daemon/deploy/cloud-init.yaml",
        "daemon/deploy/nftables.conf",
    ),
    (
        check_user_data_is_the_shipped_cloud_init,
        "main.tf",
        '"__API_URL__", var.api_url',
        '"__API_UR__", var.api_url',
    ),
    (
        check_only_wireguard_comes_in,
        "main.tf",
        'protocol         = "udp"',
        'protocol         = "tcp"',
    ),
    (
        check_only_wireguard_comes_in,
        "main.tf",
        "from_port        = var.wireguard_port",
        "from_port        = 22",
    ),
    (
        check_drain_hook,
        "main.tf",
        '"autoscaling:EC2_INSTANCE_TERMINATING"',
        '"autoscaling:EC2_INSTANCE_LAUNCHING"',
    ),
    (
        check_drain_hook,
        "main.tf",
        'default_result         = "CONTINUE"',
        'default_result         = "ABANDON"',
    ),
    (
        check_drain_hook,
        "main.tf",
        'drain_hook       = "phoenix-drain"',
        'drain_hook       = "drain"',
    ),
    (
        check_groups_per_location,
        "main.tf",
        '"phoenix:location" = each.key })',
        '"location" = each.key })',
    ),
    (
        check_target_tracking_on_the_published_metric,
        "main.tf",
        'metric_name      = "PeersPerNode"',
        'metric_name      = "Peers"',
    ),
    (
        check_target_tracking_on_the_published_metric,
        "main.tf",
        'metric_namespace = "Phoenix/Fleet"',
        'metric_namespace = "Phoenix"',
    ),
    (
        check_target_tracking_on_the_published_metric,
        "main.tf",
        'policy_type               = "TargetTrackingScaling"',
        'policy_type               = "SimpleScaling"',
    ),
    (
        check_instance_role_grants_nothing_but_its_secret,
        "main.tf",
        'actions   = ["secretsmanager:GetSecretValue"]',
        'actions   = ["secretsmanager:GetSecretValue", "secretsmanager:ListSecrets"]',
    ),
    (
        check_instance_role_grants_nothing_but_its_secret,
        "main.tf",
        "resources = [var.enrollment_secret_arn]",
        'resources = ["*"]',
    ),
    (
        check_instance_role_grants_nothing_but_its_secret,
        "main.tf",
        "  count = var.enrollment_secret_arn == null ? 0 : 1\n\n  name_prefix",
        "  name_prefix",
    ),
    (
        check_provider_pinned,
        "versions.tf",
        'version = ">= 5.30.0, < 6.0.0"',
        'version = ">= 5.30.0"',
    ),
]


def planted_copy(tmp_path: Path, edits: list[tuple[str, str, str]], extra: str = "") -> Path:
    """A copy of the module beside a copy of the cloud-init file, with ``edits`` applied."""
    copy = tmp_path / "deploy" / "terraform" / "node-fleet"
    shutil.copytree(MODULE, copy)
    (tmp_path / "daemon" / "deploy").mkdir(parents=True)
    shutil.copy(CLOUD_INIT, tmp_path / "daemon" / "deploy" / "cloud-init.yaml")
    for name, old, new in edits:
        path = copy / name
        text = path.read_text()
        assert old in text, f"{name} no longer has {old!r}: update the planted violation"
        path.write_text(text.replace(old, new, 1))
    if extra:
        (copy / "planted.tf").write_text(extra)
    return copy


@pytest.mark.parametrize(
    ("check", "name", "old", "new"),
    PLANTED,
    ids=[f"{check.__name__}:{new[:40]}" for check, _, _, new in PLANTED],
)
def test_a_planted_violation_fails_its_check(
    tmp_path: Path, check: Callable[[Module], None], name: str, old: str, new: str
) -> None:
    planted = parse(planted_copy(tmp_path, [(name, old, new)]))
    with pytest.raises(AssertionError):
        check(planted)
    for other in CHECKS:
        if other is not check:
            other(planted)  # only its own check fails


def test_a_planted_policy_attachment_fails_the_instance_role_check(tmp_path: Path) -> None:
    attachment = """
resource "aws_iam_role_policy_attachment" "planted" {
  role       = aws_iam_role.node.name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}
"""
    planted = parse(planted_copy(tmp_path, [], extra=attachment))
    with pytest.raises(AssertionError, match="aws_iam_role_policy_attachment"):
        check_instance_role_grants_nothing_but_its_secret(planted)


def test_the_user_data_is_filled_to_the_byte(module: Module) -> None:
    values = {"release_url": "https://r", "release_sha256": "f" * 64, "api_url": "https://c"}
    expected = (
        CLOUD_INIT.read_text()
        .replace("__RELEASE_URL__", "https://r")
        .replace("__RELEASE_SHA256__", "f" * 64)
        .replace("__API_URL__", "https://c")
    )
    assert filled_user_data(module, values) == expected


# --- checkov --------------------------------------------------------------------------------


def run_checkov(directory: Path, output: Path, *, quiet: bool) -> tuple[int, str, dict[str, Any]]:
    """checkov on ``directory``: its exit code, its CLI text, its JSON report."""
    require("checkov", CHECKOV.exists(), f"{CHECKOV}: python3.11 -m venv .venv-tools && "
            ".venv-tools/bin/pip install checkov==3.3.30")  # fmt: skip
    command = [
        str(CHECKOV),
        "-d",
        str(directory),
        "--framework",
        "terraform",
        "--compact",
        # Offline: no Prisma Cloud guidelines download (the checks themselves are local).
        "--skip-download",
        "-o",
        "cli",
        "-o",
        "json",
        "--output-file-path",
        f"console,{output}",
    ]
    if quiet:
        command.append("--quiet")
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    report: dict[str, Any] = json.loads(output.read_text())
    return done.returncode, done.stdout, report


@pytest.fixture(scope="module")
def checkov(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, dict[str, Any]]:
    output = tmp_path_factory.mktemp("checkov") / "results.json"
    return run_checkov(TERRAFORM, output, quiet=False)


def test_checkov_fails_no_check(checkov: tuple[int, str, dict[str, Any]]) -> None:
    code, text, report = checkov
    summary = report["summary"]
    assert (code, summary["failed"], summary["parsing_errors"]) == (0, 0, 0), text
    assert "Failed checks: 0" in text
    assert summary["passed"] >= 40  # it did scan the module (51 with checkov 3.3.30)
    scanned = {check["resource"].split("[")[0] for check in report["results"]["passed_checks"]}
    assert {"aws_launch_template.node", "aws_security_group.node", "aws_iam_role.node"} <= scanned


def test_every_checkov_skip_is_justified_in_place(checkov: tuple[int, str, dict[str, Any]]) -> None:
    _, _, report = checkov
    skipped = report["results"]["skipped_checks"]
    in_source = re.findall(
        r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(.*)",
        "".join(p.read_text() for p in MODULE.glob("*.tf")),
    )
    assert sorted(c["check_id"] for c in skipped) == sorted(check for check, _ in in_source)
    for check in skipped:
        reason = check["check_result"]["suppress_comment"]
        assert len(reason) >= 40, f"{check['check_id']}: give the reason, not a word"
    # The metadata and encryption checks are never among them.
    assert not {c["check_id"] for c in skipped} & {"CKV_AWS_79", "CKV_AWS_341"}


def test_checkov_catches_planted_violations(tmp_path: Path) -> None:
    copy = planted_copy(
        tmp_path,
        [
            ("main.tf", "http_put_response_hop_limit = 1", "http_put_response_hop_limit = 2"),
            ("main.tf", 'http_tokens                 = "required"', 'http_tokens = "optional"'),
            # Without its in-place skip, the public address is reported.
            ("main.tf", "#checkov:skip=CKV_AWS_88:", "# was a skip: "),
            (
                "main.tf",
                '    description      = "WireGuard from VPN clients"',
                '    description      = "WireGuard from VPN clients"\n  }\n\n  ingress {\n'
                '    description = "SSH"\n    protocol    = "tcp"\n    from_port   = 22\n'
                '    to_port     = 22\n    cidr_blocks = ["0.0.0.0/0"]',
            ),
        ],
    )
    code, _, report = run_checkov(copy.parent, tmp_path / "planted.json", quiet=True)
    failed = {check["check_id"] for check in report["results"]["failed_checks"]}
    assert code != 0
    assert {"CKV_AWS_341", "CKV_AWS_79", "CKV_AWS_88", "CKV_AWS_24"} <= failed, failed

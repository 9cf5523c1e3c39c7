"""The deploy files, checked with the tools Debian offers: systemd-analyze for the unit, Debian's
`cloud-init schema` for the user data, libcap for the OpenRC service's capabilities, `nft` in a
network namespace of the test's own for every rendered ruleset and for what Alpine's nftables
service loads at boot, and the boot script against a stand-in for the instance metadata service.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from node_harness import netns as netns_harness
from node_harness.netns import Netns
from node_harness.skips import require
from phoenix_node import settings as node_settings
from phoenix_node.firewall import FirewallSpec, render_conf

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNIT = DEPLOY / "systemd" / "phoenix-node.service"
OPENRC = DEPLOY / "openrc" / "phoenix-node"
CLOUD_INIT = DEPLOY / "cloud-init.yaml"
# Alpine's stock /etc/nftables.nft, as the nftables package installs it: alpinelinux/aports,
# main/nftables/nftables.nft at commit 12bb17de3742c8c60d2802aaf4a7469fd1d74aea, unchanged.
ALPINE_STOCK_NFTABLES = Path(__file__).parent / "alpine-stock-nftables.nft"
BOOT_SCRIPT = "/usr/local/sbin/phoenix-node-imds"
DEPLOYMENT_ENV = "/etc/phoenix-node/deployment.env"


def directives(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith("#"):
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def user_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(CLOUD_INIT.read_text())
    return data


def written(path: str) -> dict[str, Any]:
    """The user data's write_files entry for ``path``."""
    [entry] = [f for f in user_data()["write_files"] if f["path"] == path]
    return entry  # type: ignore[no-any-return]


def sh_value(script: Path, variable: str) -> str:
    """``variable`` as sh sees it after sourcing ``script`` (an OpenRC service defines, runs
    nothing at the top level)."""
    done = subprocess.run(
        ["sh", "-c", f'. "$1"; printf %s "${variable}"', "sh", str(script)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


# --- the service files ------------------------------------------------------------------------


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
    assert seen["CapabilityBoundingSet"] == ["CAP_NET_ADMIN CAP_NET_BIND_SERVICE"]
    assert seen["Restart"] == ["always"]
    # tmpfs only: the key directory holds the key, the registration and the Unbound instances'
    # configuration, blocklists and control sockets.
    assert seen["ReadWritePaths"] == ["/run/phoenix-node -/run/wireguard"]
    # The key and the registration outlive a stop or restart (not a reboot: /run is tmpfs).
    assert seen["RuntimeDirectoryPreserve"] == ["yes"]
    assert not {"ExecStop", "ExecStopPost"} & set(seen)  # nothing erases them on the way out


def libcap() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libcap.so.2")
    except OSError:
        require("libcap", False, "Debian libcap2")
    lib.cap_iab_from_text.restype = ctypes.c_void_p
    lib.cap_iab_from_text.argtypes = [ctypes.c_char_p]
    lib.cap_iab_get_vector.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.cap_to_name.restype = ctypes.c_void_p
    lib.cap_free.argtypes = [ctypes.c_void_p]
    return lib


def test_the_openrc_service_runs_with_the_systemd_units_capabilities_and_no_other() -> None:
    """OpenRC's ``capabilities`` is cap_iab(3) text for supervise-daemon: read here by libcap
    itself, the library supervise-daemon hands it to. The daemon runs as root, so the bounding
    set is what limits it (and every Unbound it starts): all but the unit's set are dropped."""
    seen = directives(UNIT)
    [bounding] = seen["CapabilityBoundingSet"]
    assert seen["AmbientCapabilities"] == [bounding]
    wanted = {name.lower() for name in bounding.split()}
    assert wanted == {"cap_net_admin", "cap_net_bind_service"}

    lib = libcap()
    iab = lib.cap_iab_from_text(sh_value(OPENRC, "capabilities").encode())
    assert iab, "libcap refuses the OpenRC service's capabilities"
    amb, dropped = 3, 4  # cap_iab_vector_t: CAP_IAB_AMB, CAP_IAB_BOUND (the bits to drop)
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    names = {
        number: ctypes.string_at(lib.cap_to_name(number)).decode() for number in range(last + 1)
    }
    raised = {names[n] for n in names if lib.cap_iab_get_vector(iab, amb, n)}
    kept = {names[n] for n in names if not lib.cap_iab_get_vector(iab, dropped, n)}
    lib.cap_free(iab)
    assert raised == wanted
    assert kept == wanted  # every capability this kernel has, but the two, is dropped
    assert seen["NoNewPrivileges"] == ["yes"]
    assert sh_value(OPENRC, "no_new_privs") == "yes"


def test_the_shell_scripts_are_valid_sh(tmp_path: Path) -> None:
    """The OpenRC services, the boot script and the first-boot commands, checked by ``sh -n``."""
    scripts = {
        "openrc": OPENRC.read_text(),
        "openrc-imds": written("/etc/init.d/phoenix-node-imds")["content"],
        "imds": written(BOOT_SCRIPT)["content"],
        "bootcmd": "\n".join(user_data()["bootcmd"]),
    }
    assert scripts["openrc"].startswith("#!/sbin/openrc-run\n")
    assert scripts["openrc-imds"].startswith("#!/sbin/openrc-run\n")
    for name, text in scripts.items():
        path = tmp_path / name
        path.write_text(text)
        done = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, f"{name}: {done.stderr}"


# --- the user data ----------------------------------------------------------------------------


def cloud_init_python() -> list[str]:
    """The interpreter Debian's cloud-init runs with (its own modules are not in our venv)."""
    program = shutil.which("cloud-init")
    require("cloud-init", program is not None, "Debian cloud-init, from scripts/apt-packages.txt")
    assert program is not None
    return Path(program).read_text().splitlines()[0].removeprefix("#!").split()


def cloud_config_keys() -> set[str]:
    """Every top-level key a module of this cloud-init reads, from its own schema."""
    code = (
        "import json\nfrom cloudinit.config.schema import get_schema\n"
        "print(json.dumps(get_schema()))"
    )
    done = subprocess.run(
        [*cloud_init_python(), "-c", code], capture_output=True, text=True, check=True
    )
    schema = json.loads(done.stdout)
    keys: set[str] = set()
    for part in schema["allOf"]:
        definition = schema["$defs"][part["$ref"].rpartition("/")[2]]
        keys |= set(definition.get("properties", {}))
    return keys


def cloud_init_schema(path: Path) -> subprocess.CompletedProcess[str]:
    cloud_init_python()  # skips (fails under CI) without Debian's cloud-init
    return subprocess.run(
        ["cloud-init", "schema", "--config-file", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cloud_init_schema_accepts_the_user_data_and_refuses_a_broken_one(tmp_path: Path) -> None:
    done = cloud_init_schema(CLOUD_INIT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Valid cloud-config" in done.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("#cloud-config\nmounts: 5\n")
    refused = cloud_init_schema(broken)
    assert refused.returncode != 0
    assert "mounts" in refused.stdout + refused.stderr
    # The schema lets unknown keys through; a misspelt module key would be skipped silently.
    assert set(user_data()) <= cloud_config_keys()


def test_the_user_data_keeps_the_node_diskless_and_secret_free() -> None:
    text = CLOUD_INIT.read_text()
    assert text.startswith("#cloud-config\n")
    data = user_data()
    assert data["ssh_pwauth"] is False
    # Logs and keys in tmpfs: in fstab, mounted by bootcmd already on the first boot (before
    # the mounts module), with the same options, which the OpenRC service uses too.
    fstab = {entry[1]: entry[3] for entry in data["mounts"] if entry[2] == "tmpfs"}
    assert set(fstab) == {"/var/log", "/run/phoenix-node"}
    early = "\n".join(data["bootcmd"])
    for directory, options in fstab.items():
        assert f"mount -t tmpfs -o {options} tmpfs {directory}\n" in early
    assert sh_value(OPENRC, "key_dir_options") == fstab["/run/phoenix-node"]
    commands = json.dumps(data["runcmd"])
    assert "sha256sum -c" in commands
    assert data["runcmd"][0] == "set -eu"  # a failed download stops the first boot there
    deployment = written(DEPLOYMENT_ENV)["content"]
    assert "PHOENIX_NODE_ATTESTATION=aws" in deployment
    assert "PHOENIX_NODE_SSH_CIDRS=\n" in deployment  # no SSH unless the operator names CIDRs
    # Only per-release and per-deployment inputs are left to fill in; the node's own come
    # from the instance metadata at boot.
    assert set(re.findall(r"__[A-Z0-9_]+__", text)) == {
        "__RELEASE_URL__",
        "__RELEASE_SHA256__",
        "__API_URL__",
    }
    for package in ("nftables", "py3-nftables", "unbound", "dnssec-root", "ca-certificates"):
        assert package in data["packages"]
    # No secret sits in user data: no enrollment key (in any form), no fleet-wide token.
    variables = re.findall(r"^\s*#?\s*(PHOENIX_NODE_[A-Z_]+)=", text, re.MULTILINE)
    assert not [v for v in variables if "ENROLLMENT_KEY" in v or "TOKEN" in v or "SECRET" in v]
    assert "pnk_" not in text
    assert written("/etc/init.d/phoenix-node")["content"] == OPENRC.read_text()


def test_alpines_nftables_service_loads_only_the_ruleset_phoenix_node_renders() -> None:
    """Alpine's service runs ``nft -f $rules_file``: pinned to /etc/nftables.nft, never saved
    over on stop, and that file includes exactly the file the first boot renders into."""
    data = user_data()
    boot_file = written("/etc/nftables.nft")
    assert boot_file["defer"] is True  # after apk installed the package's own file
    statements = [line for line in boot_file["content"].splitlines() if line[:1] not in ("#", "")]
    assert statements == [
        "flush ruleset",
        'include "/etc/nftables.d/phoenix.nft"',
    ]
    confd = written("/etc/conf.d/nftables")
    assert confd["defer"] is True
    assert confd["content"].splitlines() == ['rules_file="/etc/nftables.nft"', 'save_on_stop="no"']
    render = (
        "/usr/local/bin/phoenix-node --config /etc/phoenix-node/deployment.env render nftables"
        " > /etc/nftables.d/phoenix.nft"
    )
    assert any(render in json.dumps(command) for command in data["runcmd"])
    # Loaded in the boot runlevel, and restarted so that a stock ruleset already loaded goes.
    assert ["rc-update", "add", "nftables", "boot"] in data["runcmd"]
    assert ["rc-service", "nftables", "restart"] in data["runcmd"]


# --- the rulesets, in a network namespace -----------------------------------------------------


@pytest.fixture
def empty_ns() -> Iterator[Netns]:
    ok, why = netns_harness.available()
    require("network namespaces", ok, why)
    require("nft", shutil.which("nft") is not None, "Debian nftables")
    ns = Netns("deploy")
    yield ns
    ns.delete()


def listing(ns: Netns) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(ns.exec("nft", "-j", "list", "ruleset").stdout)[
        "nftables"
    ]
    return items


def tables(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["table"]["family"], i["table"]["name"]) for i in items if "table" in i}


def dropping_forward(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """The tables with a forward hook whose policy is drop."""
    chains = [i["chain"] for i in items if "chain" in i]
    return {
        (c["family"], c["table"])
        for c in chains
        if c.get("hook") == "forward" and c.get("policy") == "drop"
    }


def boot(ns: Netns, nftables_nft: str, tmp_path: Path) -> list[dict[str, Any]]:
    """What Alpine's nftables service leaves in ``ns`` from this /etc/nftables.nft, with
    /etc/nftables.d/ holding what the first boot renders (the default ruleset)."""
    directory = tmp_path / "nftables.d"
    directory.mkdir(exist_ok=True)
    (directory / "phoenix.nft").write_text(render_conf(FirewallSpec()))
    rules = tmp_path / "nftables.nft"
    rules.write_text(nftables_nft.replace('"/etc/nftables.d/', f'"{directory}/'))
    ns.exec("nft", "-f", str(rules))
    return listing(ns)


RULESETS = {
    "default": FirewallSpec(),
    "ssh, private networks, resolvers, IPv6 egress": FirewallSpec(
        ssh_cidrs=("198.51.100.0/24", "2001:db8:5::/48"),
        private_networks=("10.20.0.0/16", "10.21.0.0/16", "2600:1f18:abcd:1200::/56"),
        own_addresses=("203.0.113.7",),
        resolvers=("10.64.160.1", "100.64.0.2", "fd64::1"),
        blocked_tcp_ports=(25, 465, 587),
        ipv6_egress=True,
    ),
    "other interfaces and port, a private network inside a built-in range": FirewallSpec(
        wg_interface="wgx0",
        egress_interface="ens5",
        listen_port=443,
        private_networks=("172.31.0.0/16", "100.64.0.0/16"),
        blocked_tcp_ports=(),
    ),
}


@pytest.mark.needs_root
@pytest.mark.parametrize("spec", RULESETS.values(), ids=RULESETS.keys())
def test_every_rendered_ruleset_passes_nft_check(
    empty_ns: Netns, spec: FirewallSpec, tmp_path: Path
) -> None:
    path = tmp_path / "ruleset.nft"
    path.write_text(render_conf(spec))
    done = empty_ns.exec("nft", "-c", "-f", str(path), check=False)
    assert done.returncode == 0, done.stderr
    assert tables(listing(empty_ns)) == set()  # a check changes nothing


@pytest.mark.needs_root
def test_the_shipped_ruleset_refuses_metadata_and_private_ranges_before_accepting_clients(
    empty_ns: Netns,
) -> None:
    conf = str(DEPLOY / "nftables.conf")
    assert empty_ns.exec("nft", "-c", "-f", conf, check=False).returncode == 0
    empty_ns.exec("nft", "-f", conf)
    element = ("nft", "get", "element", "inet", "phoenix", "unreachable4")
    for address in ("169.254.169.254", "10.99.0.1", "172.16.5.5", "192.168.1.1", "100.64.0.1"):
        empty_ns.exec(*element, f"{{{address}}}")
    for address in ("1.1.1.1", "93.184.216.34"):
        assert empty_ns.exec(*element, f"{{{address}}}", check=False).returncode != 0, address
    rules = [i["rule"] for i in listing(empty_ns) if "rule" in i]

    def chain(name: str) -> list[str]:
        return [json.dumps(r["expr"]) for r in rules if r["chain"] == name]

    forward = chain("forward")
    assert '"target": "to_internet"' in forward[-1]
    assert '"wg0"' in forward[-1]
    assert not [rule for rule in forward if '"accept"' in rule and "established" not in rule]
    to_internet = chain("to_internet")
    refused = [n for n, rule in enumerate(to_internet) if "@unreachable4" in rule]
    assert refused
    assert all('"reject"' in to_internet[n] for n in refused)
    assert to_internet[-1] == '[{"accept": null}]'
    assert max(refused) < len(to_internet) - 1


@pytest.mark.needs_root
def test_at_boot_only_the_phoenix_table_is_loaded_even_over_a_stock_ruleset(
    empty_ns: Netns, tmp_path: Path
) -> None:
    ours = written("/etc/nftables.nft")["content"]
    assert tables(boot(empty_ns, ours, tmp_path)) == {("inet", "phoenix")}
    # An image whose nftables service already ran the stock file: the restart drops it.
    boot(empty_ns, ALPINE_STOCK_NFTABLES.read_text(), tmp_path)
    after = boot(empty_ns, ours, tmp_path)
    assert tables(after) == {("inet", "phoenix")}
    assert dropping_forward(after) == {("inet", "phoenix")}  # ours: policy drop, then to_internet


@pytest.mark.needs_root
def test_alpines_stock_file_would_leave_a_table_that_drops_forwarding(
    empty_ns: Netns, tmp_path: Path
) -> None:
    """The check above catches the old setup (stock file kept, our table in nftables.d): a
    second table whose forward chain drops every packet our table accepts."""
    stock = boot(empty_ns, ALPINE_STOCK_NFTABLES.read_text(), tmp_path)
    assert tables(stock) == {("inet", "filter"), ("inet", "phoenix")}
    assert ("inet", "filter") in dropping_forward(stock)


# --- the boot script, against a stand-in IMDSv2 -----------------------------------------------

TOKEN = "imds-session-token"  # a stand-in's value
MAC = "0e:12:34:56:78:9a"
METADATA = {
    "public-ipv4": "203.0.113.7",
    "mac": MAC,
    "tags/instance/phoenix:location": "de-fra",
    f"network/interfaces/macs/{MAC}/vpc-ipv4-cidr-blocks": "10.20.0.0/16\n10.21.0.0/16",
    f"network/interfaces/macs/{MAC}/vpc-ipv6-cidr-blocks": "2600:1f18:abcd:1200::/56",
}


class Imds(BaseHTTPRequestHandler):
    """IMDSv2 as the boot script meets it: a PUT for a session token with its lifetime, then
    GETs that carry the token (401 without it, as with HttpTokens=required)."""

    metadata: dict[str, str] = {}

    def do_PUT(self) -> None:
        lifetime = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if self.path != "/latest/api/token" or not lifetime.isdigit():
            self.answer(400, "")
        else:
            self.answer(200, TOKEN)

    def do_GET(self) -> None:
        key = self.path.removeprefix("/latest/meta-data/")
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self.answer(401, "")
        elif key in self.metadata:
            self.answer(200, self.metadata[key])
        else:
            self.answer(404, "")

    def answer(self, status: int, body: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def imds(metadata: dict[str, str]) -> Iterator[str]:
    handler = type("Stand-in", (Imds,), {"metadata": metadata})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def run_boot_script(
    tmp_path: Path, metadata: dict[str, str], deployment_extra: str = ""
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The boot script as the OpenRC service runs it, with the user data's deployment settings
    (the API URL filled in, as the provisioning tool does)."""
    require("curl", shutil.which("curl") is not None, "Debian curl, from scripts/apt-packages.txt")
    script = tmp_path / "phoenix-node-imds"
    script.write_text(written(BOOT_SCRIPT)["content"])
    deployment = tmp_path / "deployment.env"
    target = tmp_path / "node.env"
    with imds(metadata) as url:
        deployment.write_text(
            written(DEPLOYMENT_ENV)["content"].replace("__API_URL__", "https://config.example")
            + deployment_extra
            + f"PHOENIX_NODE_IMDS_URL={url}\n"
        )
        done = subprocess.run(
            ["sh", str(script), str(deployment), str(target)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        )
    return done, target


def test_the_boot_script_writes_the_nodes_settings_from_imdsv2(tmp_path: Path) -> None:
    done, target = run_boot_script(tmp_path, METADATA)
    assert done.returncode == 0, done.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    loaded = node_settings.load({}, target)  # the daemon's own reading of the file
    assert loaded.region == "de-fra"
    assert loaded.public_ip == "203.0.113.7"
    assert loaded.private_networks == ("10.20.0.0/16", "10.21.0.0/16", "2600:1f18:abcd:1200::/56")
    assert loaded.attestation == "aws"
    assert loaded.ssh_cidrs == ()
    assert loaded.dns_trust_anchor == "/usr/share/dnssec-root/trusted-key.key"


def test_without_the_tag_the_deployments_location_and_networks_are_kept(tmp_path: Path) -> None:
    metadata = {k: v for k, v in METADATA.items() if not k.startswith(("tags/", "network/"))}
    metadata[f"network/interfaces/macs/{MAC}/vpc-ipv4-cidr-blocks"] = "172.31.0.0/16"
    extra = "PHOENIX_NODE_REGION=us-nyc\nPHOENIX_NODE_PRIVATE_NETWORKS=192.0.2.0/24\n"
    done, target = run_boot_script(tmp_path, metadata, extra)
    assert done.returncode == 0, done.stderr
    loaded = node_settings.load({}, target)
    assert loaded.region == "us-nyc"
    assert loaded.private_networks == ("192.0.2.0/24", "172.31.0.0/16")  # no IPv6 block: none
    assert target.read_text().count("PHOENIX_NODE_REGION=") == 1


REFUSED = {
    "no tag, no location in the deployment": ({"tags/instance/phoenix:location": None}, "location"),
    "a tag that would add a setting": (
        {"tags/instance/phoenix:location": "de-fra\nPHOENIX_NODE_ATTESTATION=none"},
        "location",
    ),
    "a tag that is no location code": ({"tags/instance/phoenix:location": "Frankfurt"}, "location"),
    "no public address": ({"public-ipv4": None}, "public IPv4"),
    "a VPC block that is no CIDR": (
        {f"network/interfaces/macs/{MAC}/vpc-ipv4-cidr-blocks": "10.0.0.0/16\nx=1"},
        "VPC block",
    ),
}


@pytest.mark.parametrize(("change", "named"), REFUSED.values(), ids=REFUSED.keys())
def test_the_boot_script_refuses_bad_metadata_and_leaves_no_settings(
    tmp_path: Path, change: dict[str, str | None], named: str
) -> None:
    metadata = {**METADATA, **change}
    (tmp_path / "node.env").write_text("PHOENIX_NODE_PUBLIC_IP=198.51.100.1\n")  # a past boot's
    done, target = run_boot_script(tmp_path, {k: v for k, v in metadata.items() if v is not None})
    assert done.returncode != 0
    assert named in done.stderr
    assert not target.exists()  # the daemon does not start on another boot's address

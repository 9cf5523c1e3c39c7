#!/usr/bin/env bash
# Host set-up for podman, idempotent: safe to run before every image build.
#
# Why: on this kind of machine (a VM whose root lacks CAP_SYS_RESOURCE) podman's default rlimits
# for a container (nofile and nproc at the kernel maximum) exceed the host's hard limits, and runc
# refuses to start any container ("error setting rlimit type 7: operation not permitted"). Default
# ulimits at or below the host's hard limits fix it. runc is named as the runtime because it is
# the one scripts/apt-packages.txt installs and the one this was tested with.
#
# Only keys that are missing are added to /etc/containers/containers.conf; values an
# administrator already set are left alone (a differing value is reported, not overwritten).
set -euo pipefail

conf="${PODMAN_CONTAINERS_CONF:-/etc/containers/containers.conf}"

if [ ! -w "$(dirname "$conf")" ] && [ "$(id -u)" -ne 0 ]; then
  echo "podman-setup: cannot write $conf (run as root)" >&2
  exit 1
fi
mkdir -p "$(dirname "$conf")"
touch "$conf"

# TOML forbids a table twice, so keys go under an existing [containers] / [engine] header when
# there is one; tomllib (Python 3.11) reads what is already set.
python3 - "$conf" <<'PY'
import sys
import tomllib
from pathlib import Path

path = Path(sys.argv[1])
text = path.read_text()
current = tomllib.loads(text)
wanted = {
    "containers": {"default_ulimits": '["nofile=20000:20000", "nproc=1000:1000"]'},
    "engine": {"runtime": '"runc"'},
}
lines = text.splitlines()
changed = False
for table, keys in wanted.items():
    for key, value in keys.items():
        if key in current.get(table, {}):
            have = current[table][key]
            if have != tomllib.loads(f"v = {value}")["v"]:
                print(f"podman-setup: keeping {table}.{key} = {have!r} already set in {path}")
            continue
        header = f"[{table}]"
        entry = f"{key} = {value}"
        index = next((i for i, line in enumerate(lines) if line.strip() == header), None)
        if index is None:
            lines += ["", header, entry]
        else:
            lines.insert(index + 1, entry)
        changed = True
        print(f"podman-setup: set {table}.{key} = {value} in {path}")
if changed:
    tomllib.loads("\n".join(lines))  # never leave a file podman cannot parse
    path.write_text("\n".join(lines).lstrip("\n") + "\n")
PY

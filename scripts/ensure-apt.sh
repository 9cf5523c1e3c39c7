#!/usr/bin/env bash
# Install the named Debian packages that are missing; do nothing (and touch no network) otherwise.
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
else
  sudo=
fi
echo "installing Debian packages: ${missing[*]}"
# cloud-init is here for its schema check of the node's user data, never to configure this
# machine: the marker file keeps it from running at the next boot.
if printf '%s\n' "${missing[@]}" | grep -qx cloud-init; then
  $sudo mkdir -p /etc/cloud && $sudo touch /etc/cloud/cloud-init.disabled
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

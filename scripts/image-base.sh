#!/usr/bin/env bash
# Build the local base image localhost/phoenix-base:bookworm from Debian packages.
#
# Why: on machines that reach no container registry (only the Debian mirrors and PyPI) there is
# no python:3.11-slim to pull, so `make image` starts from this instead. Debian bookworm ships
# Python 3.11, the same minor version as the production base. Production builds use the
# Containerfile's default base (python:3.11-slim) and never run this script.
#
# Idempotent: when the tag already exists nothing is done (PHOENIX_BASE_REBUILD=1 forces a new
# debootstrap). Needs root (debootstrap and chroot do).
set -euo pipefail

tag="${PHOENIX_BASE_IMAGE:-localhost/phoenix-base:bookworm}"
suite=bookworm
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
security_mirror="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"

if [ "${PHOENIX_BASE_REBUILD:-0}" != 1 ] && podman image exists "$tag"; then
  echo "image-base: $tag exists; nothing to do (PHOENIX_BASE_REBUILD=1 rebuilds it)"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "image-base: must run as root (debootstrap needs it)" >&2
  exit 1
fi
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || {
    echo "image-base: $tool is missing (see scripts/apt-packages.txt)" >&2
    exit 1
  }
done

# /var/tmp, not /tmp: the new root is about 200 MB and /tmp may be a small tmpfs.
workdir="$(mktemp -d /var/tmp/phoenix-base.XXXXXX)"
rootfs="$workdir/rootfs"
cleanup() {
  # A failed debootstrap or chroot step can leave /proc, /sys or /dev mounted inside the tree;
  # unmount them first and never let rm cross into another filesystem (the host's /proc).
  local mount
  while read -r mount; do
    umount -l "$mount" || true
  done < <(awk -v root="$rootfs/" 'index($2, root) == 1 { print $2 }' /proc/self/mounts | sort -r)
  rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

started=$SECONDS
echo "image-base: debootstrap $suite from $mirror (a minute or two)"
# minbase: dpkg, apt and the Essential set only. python3-venv brings ensurepip, which the
# Containerfile's builder stage uses to create the application's venv; ca-certificates lets
# the image speak TLS to its databases and AWS. No compiler: every dependency ships a wheel.
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "$suite" "$rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 || {
  tail -n 40 "$workdir/debootstrap.log" >&2
  echo "image-base: debootstrap failed" >&2
  exit 1
}

# debootstrap installs from the release only; take the point-release and security updates too.
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
SOURCES
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
  sh -c 'apt-get update -qq && apt-get upgrade -y -qq && apt-get clean' \
  >"$workdir/upgrade.log" 2>&1 || {
  tail -n 40 "$workdir/upgrade.log" >&2
  echo "image-base: apt-get upgrade in the new root failed" >&2
  exit 1
}

# Leave nothing of the build host behind: the resolver comes from the container engine at run
# time, and package lists and caches only make the image larger.
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname" 2>/dev/null || true
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log \
  "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*

echo "image-base: importing as $tag"
# LANG like python:3.11-slim, so both bases behave the same for text I/O.
tar --numeric-owner --xattrs -C "$rootfs" -c . |
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase $suite + python3 python3-venv ca-certificates" \
    - "$tag" >/dev/null
echo "image-base: built $tag in $((SECONDS - started)) s"

#!/usr/bin/env bash
# Build the Phoenix server images with podman (what `make images` runs): one per role, each a
# target of the one Containerfile.
#
#   scripts/build-image.sh                     every role: localhost/phoenix-<role>:dev
#   scripts/build-image.sh config              one role (or several: auth config ...)
#   BASE=docker.io/library/python:3.11-slim-bookworm@sha256:... scripts/build-image.sh
#                                              from a registry base (default: the Containerfile's)
#   PHOENIX_IMAGE_PREFIX=registry.example/phoenix PHOENIX_IMAGE_TAG=1.2 scripts/build-image.sh
#   scripts/build-image.sh config -- --no-cache    (after --: extra podman build arguments)
#
# Without BASE the images start from localhost/phoenix-base:bookworm, made by scripts/image-base.sh
# on the first run, because a machine with only Debian mirrors and PyPI can pull no base image.
set -euo pipefail
cd "$(dirname "$0")/.."

roles=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    auth | config | analytics | worker) roles+=("$1"); shift ;;
    *) echo "build-image: unknown role $1 (auth, config, analytics, worker; podman arguments after --)" >&2; exit 2 ;;
  esac
done
[ ${#roles[@]} -gt 0 ] || roles=(auth config analytics worker)
prefix="${PHOENIX_IMAGE_PREFIX:-localhost/phoenix}"
version="${PHOENIX_IMAGE_TAG:-dev}"
local_base="${PHOENIX_BASE_IMAGE:-localhost/phoenix-base:bookworm}"
# chroot isolation: a RUN step needs neither an OCI runtime nor new namespaces, so the build works
# on VMs and CI runners where containers cannot (yet) start; PHOENIX_IMAGE_ISOLATION=oci also
# works once scripts/podman-setup.sh has run.
isolation="${PHOENIX_IMAGE_ISOLATION:-chroot}"
started=$SECONDS

command -v podman >/dev/null || {
  echo "build-image: podman is missing (Debian package podman, see scripts/apt-packages.txt)" >&2
  exit 1
}

# The base may also come as --build-arg BASE=... among the extra arguments.
base="${BASE:-}"
previous=
for argument in "$@"; do
  case "$argument" in
    --build-arg=BASE=*) base="${argument#--build-arg=BASE=}" ;;
    BASE=*) [ "$previous" = --build-arg ] && base="${argument#BASE=}" ;;
  esac
  previous="$argument"
done

# Containers started from the image (the test, `podman run`) need the host's podman set-up.
if [ "$(id -u)" -eq 0 ]; then
  scripts/podman-setup.sh
fi

# --format docker: the OCI image format has no HEALTHCHECK, and podman would drop it.
build_args=(--isolation "$isolation" --layers --format docker --file Containerfile)
if [ -z "$base" ]; then
  scripts/image-base.sh
  base="$local_base"
  # A localhost/ image exists only here; never try a registry for it.
  build_args+=(--pull=never)
fi
build_args+=(--build-arg "BASE=$base")

# pip and uv in the build must trust whatever CA this machine trusts (an egress proxy may re-sign
# TLS). The bundle goes in as a build secret: mounted for the install steps, kept in no layer.
for bundle in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$bundle" ] && [ -s "$bundle" ]; then
    build_args+=(--secret "id=pip_cert,src=$bundle")
    break
  fi
done

# The stages the roles share (tools, app) are built once and reused from podman's layer cache.
for role in "${roles[@]}"; do
  tag="$prefix-$role:$version"
  echo "build-image: building $tag (target $role) from $base"
  podman build "${build_args[@]}" --target "$role" --tag "$tag" "$@" .
  size="$(podman image inspect --format '{{.Size}}' "$tag")"
  echo "build-image: built $tag ($((size / 1000000)) MB) in $((SECONDS - started)) s"
done

#!/usr/bin/env bash
# Build the Phoenix server image with podman (what `make image` runs).
#
#   scripts/build-image.sh                              local debootstrap base, localhost/phoenix:dev
#   BASE=docker.io/library/python:3.11-slim scripts/build-image.sh    production base (registry)
#   PHOENIX_IMAGE=registry.example/phoenix:1.2 scripts/build-image.sh [extra podman build args]
#
# Without BASE (as an environment variable or --build-arg BASE=...) the image starts from
# localhost/phoenix-base:bookworm, made by scripts/image-base.sh on the first run, because a
# machine with only Debian mirrors and PyPI can pull no base image.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${PHOENIX_IMAGE:-localhost/phoenix:dev}"
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

build_args=(--tag "$tag" --isolation "$isolation" --layers --file Containerfile)
if [ -z "$base" ]; then
  scripts/image-base.sh
  base="$local_base"
  # A localhost/ image exists only here; never try a registry for it.
  build_args+=(--pull=never)
fi
build_args+=(--build-arg "BASE=$base")

# pip in the builder must trust whatever CA this machine trusts (an egress proxy may re-sign
# TLS). The bundle goes in as a build secret: mounted for the pip steps, kept in no layer.
for bundle in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
  if [ -n "$bundle" ] && [ -s "$bundle" ]; then
    build_args+=(--secret "id=pip_cert,src=$bundle")
    break
  fi
done

echo "build-image: building $tag from $base"
podman build "${build_args[@]}" "$@" .
size="$(podman image inspect --format '{{.Size}}' "$tag")"
echo "build-image: built $tag ($((size / 1000000)) MB) in $((SECONDS - started)) s"

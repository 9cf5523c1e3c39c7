#!/bin/sh
# The Containerfile's install steps (run inside the build, from /src):
#
#   image-role.sh deps ROLE   /opt/venv with phoenix's base dependencies and ROLE's extra, from
#                             uv.lock, every hash checked (`uv sync --frozen`); phoenix not yet
#   image-role.sh app         phoenix's wheel (hatchling from tools/build.txt, no fetched build
#                             environment) installed into an empty /opt/venv, and the files it
#                             installed gathered under /overlay at their final paths
#   image-role.sh prune ROLE  drop from /overlay every phoenix package ROLE's process never
#                             imports: the other roles, the client, the development tooling
#
# Kept as one script so that the four role targets stay one line each in the Containerfile.
set -eu

site=/opt/venv/lib/python3.11/site-packages

case "${1:-}" in
deps)
  role=${2:?image-role.sh deps ROLE}
  # A CA bundle for machines whose egress re-signs TLS (a build secret; see scripts/build-image.sh).
  if [ -s /run/secrets/pip_cert ]; then export SSL_CERT_FILE=/run/secrets/pip_cert; fi
  python3 -m venv --without-pip /opt/venv
  UV_PROJECT_ENVIRONMENT=/opt/venv /opt/tools/bin/uv sync --frozen --no-dev --no-install-project \
    --extra "$role" --python /opt/venv/bin/python
  ;;
app)
  /opt/tools/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /tmp/dist .
  python3 -m venv --without-pip /opt/venv
  /opt/tools/bin/uv pip install --quiet --no-deps --python /opt/venv/bin/python /tmp/dist/phoenix-*.whl
  # The venv held nothing else, so its site-packages (with the compiled bytecode) and its
  # phoenix scripts are exactly what phoenix installed.
  mkdir -p /overlay/opt/venv/bin "/overlay$site"
  cp -a "$site/." "/overlay$site/"
  cp -a /opt/venv/bin/phoenix /opt/venv/bin/phoenix-client /overlay/opt/venv/bin/
  ;;
prune)
  role=${2:?image-role.sh prune ROLE}
  # What each role's process imports of phoenix beyond phoenix.common (tests/unit/test_role_extras.py
  # derives the same from the sources and keeps this list honest).
  case "$role" in
  auth | config | worker) keep="$role crypto" ;;
  analytics) keep="analytics" ;;
  *)
    echo "image-role.sh: unknown role $role" >&2
    exit 2
    ;;
  esac
  for package in auth config analytics worker crypto client dev; do
    case " $keep " in
    *" $package "*) ;;
    *) rm -rf "/overlay$site/phoenix/$package" ;;
    esac
  done
  rm -f /overlay/opt/venv/bin/phoenix-client
  ;;
*)
  echo "usage: image-role.sh deps ROLE | app | prune ROLE" >&2
  exit 2
  ;;
esac

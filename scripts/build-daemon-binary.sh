#!/usr/bin/env bash
# Build phoenix-node as one executable file (a zipapp: the daemon and its dependencies, run by
# the node's python3). Output: dist/phoenix-node, or $1.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist/phoenix-node}
python=${PYTHON:-.venv/bin/python}
staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
"$python" -m pip install --quiet --disable-pip-version-check --no-compile --target "$staging" ./daemon
# Console-script shims and metadata are not needed inside the archive.
rm -rf "${staging:?}"/bin "${staging:?}"/*.dist-info
mkdir -p "$(dirname "$out")"
"$python" -m zipapp "$staging" --main "phoenix_node.cli:main" --python "/usr/bin/env python3" \
  --compress --output "$out"
echo "built $out ($(du -h "$out" | cut -f1))"

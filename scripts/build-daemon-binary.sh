#!/usr/bin/env bash
# Build phoenix-node as one executable file with PyInstaller (--onefile): the daemon, its
# dependencies and the Python runtime, for the glibc of the machine that builds it. Output:
# dist/phoenix-node, or $1. The production build runs this same script inside an Alpine build
# container (musl), see docs/node.md. The server package `phoenix` is never imported by the
# daemon, and is excluded explicitly as well.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist/phoenix-node}
python=${PYTHON:-.venv/bin/python}
"$python" -c "import PyInstaller, phoenix_node" 2>/dev/null ||
  "$python" -m pip install --quiet --disable-pip-version-check './daemon[build]'
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m PyInstaller --onefile --noconfirm --log-level WARN --clean \
  --name phoenix-node --distpath "$work/dist" --workpath "$work/build" --specpath "$work" \
  --exclude-module phoenix --exclude-module nftables --exclude-module tkinter \
  --exclude-module uvloop --exclude-module _pytest --exclude-module pytest --exclude-module sqlite3 \
  daemon/src/phoenix_node/__main__.py
mkdir -p "$(dirname "$out")"
mv "$work/dist/phoenix-node" "$out"
echo "built $out ($(du -h "$out" | cut -f1))"

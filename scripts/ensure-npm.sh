#!/usr/bin/env bash
# Install the Node tools the tests run (package-lock.json: firebase-tools for the Auth emulator)
# into ./node_modules with `npm ci`, only when node_modules is missing or older than
# package.json/package-lock.json; silent when there is nothing to do.
#
# --ignore-scripts: the only install scripts in the tree build re2 (a native regex module that
# firebase-tools' Hosting emulator may use, downloading from GitHub or compiling with node-gyp:
# ~1 min) and print a protobufjs notice. The Auth emulator needs neither.
#
# Without a usable Node (>= 20, which firebase-tools requires) this says so and carries on, so the
# emulator tests skip; under CI=true it fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.phoenix-npm-ci
if [ -f "$stamp" ] && [ ! package-lock.json -nt "$stamp" ] && [ ! package.json -nt "$stamp" ]; then
  exit 0
fi

missing() {
  echo "ensure-npm: $1; the Firebase Auth emulator tests will skip" >&2
  case "${CI:-}" in 1 | true | TRUE | True | yes) exit 1 ;; esac
  exit 0
}
command -v node >/dev/null 2>&1 || missing "node is not installed (Node.js >= 20 is needed)"
command -v npm >/dev/null 2>&1 || missing "npm is not installed"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  missing "node $(node --version) is too old (firebase-tools needs >= 20)"

echo "installing Node packages (npm ci)"
rm -f "$stamp"
npm ci --no-audit --no-fund --no-update-notifier --ignore-scripts --loglevel=error
touch "$stamp"

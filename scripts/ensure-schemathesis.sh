#!/usr/bin/env bash
# Prints the path of a pinned schemathesis (PyPI), installing it the first time into a
# virtualenv in the per-machine tool cache (like scripts/go-tool.sh), for the OpenAPI
# fuzz test (tests/rest/openapi.test.ts).
set -euo pipefail
version=4.32.5
venv="${CFS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cfs-tools}/schemathesis-$version"
bin="$venv/bin/schemathesis"
if [ ! -x "$bin" ]; then
  mkdir -p "$(dirname "$venv")"
  # Test files run in parallel: one installs, the others wait for it.
  exec 9>"$venv.lock"
  command -v flock >/dev/null && flock 9
  if [ ! -x "$bin" ]; then
    echo "installing schemathesis $version into $venv (first time only)..." >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
  fi
fi
echo "$bin"

#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (tests/web),
# which drive it with playwright-core (never `playwright install`: no browser
# downloads). Idempotent.
#   CFS_CHROMIUM: another Chromium binary to use (default /usr/bin/chromium).
set -euo pipefail
chromium=${CFS_CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium" ]; then exit 0; fi
if [ -n "${CFS_CHROMIUM:-}" ]; then
  echo "ensure-chromium: CFS_CHROMIUM=$chromium is not an executable file" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "ensure-chromium: $chromium is missing and installing it needs root." >&2
  echo "  Install Debian's package yourself: sudo apt-get install -y chromium" >&2
  echo "  (or point CFS_CHROMIUM at a Chromium binary)" >&2
  exit 1
fi
echo "ensure-chromium: installing Debian's chromium package for the browser tests" >&2
${as_root[@]+"${as_root[@]}"} apt-get update -qq || echo "ensure-chromium: apt-get update failed; trying the package lists at hand" >&2
${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
if [ ! -x "$chromium" ]; then
  echo "ensure-chromium: apt-get installed chromium but $chromium is still missing" >&2
  exit 1
fi
"$chromium" --version >&2 || true

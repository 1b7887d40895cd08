#!/usr/bin/env bash
# Makes sure the WebDAV clients the WebDAV tests (tests/webdav) drive are installed from
# Debian: litmus (the WebDAV conformance suite), rclone, cadaver. Idempotent, like
# scripts/ensure-chromium.sh.
set -euo pipefail
declare -A binary=([litmus]=litmus [rclone]=rclone [cadaver]=cadaver)
missing=()
for package in "${!binary[@]}"; do
  command -v "${binary[$package]}" >/dev/null || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "ensure-webdav-clients: ${missing[*]} missing and installing needs root." >&2
  echo "  Install Debian's packages yourself: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "ensure-webdav-clients: installing Debian's ${missing[*]} for the WebDAV tests" >&2
${as_root[@]+"${as_root[@]}"} apt-get update -qq || echo "ensure-webdav-clients: apt-get update failed; trying the package lists at hand" >&2
${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for package in "${missing[@]}"; do
  command -v "${binary[$package]}" >/dev/null || { echo "ensure-webdav-clients: $package installed but ${binary[$package]} is still missing" >&2; exit 1; }
done

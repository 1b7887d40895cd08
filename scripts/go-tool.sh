#!/usr/bin/env bash
# Prints the path of a pinned Go tool, building it from the Go module proxy the
# first time. Binaries live in a per-machine cache outside the clone (so a fresh
# CI clone reuses them), keyed by module version so a pin change rebuilds.
# Tools of this repository (a path under tools/) are keyed by a hash of their
# sources instead, and built with the versions their go.sum pins.
#   usage: scripts/go-tool.sh minio|grpcurl|helm|ghz|tusd|k8s-check|envoy-check
set -euo pipefail

tool="${1:?usage: go-tool.sh <tool>}"
case "$tool" in
  minio)   pkg="github.com/minio/minio";                       ver="v0.0.0-20260212201848-7aac2a2c5b7c" ;;
  grpcurl) pkg="github.com/fullstorydev/grpcurl/cmd/grpcurl";  ver="v1.9.3" ;;
  helm)    pkg="helm.sh/helm/v3/cmd/helm";                     ver="v3.22.0" ;;
  ghz)     pkg="github.com/bojand/ghz/cmd/ghz";                ver="v0.120.0" ;;
  tusd)    pkg="github.com/tus/tusd/v2/cmd/tusd";              ver="v2.9.1" ;;     # make bench's peer on the same MinIO
  k8s-check) pkg="tools/k8s-check";                             ver="" ;;  # offline validator of the deploy tests
  envoy-check) pkg="tools/envoy-check";                         ver="" ;;  # Envoy config validator (go-control-plane + PGV)
  *) echo "go-tool.sh: unknown tool '$tool'" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "$ver" ]; then
  ver="src-$(cd "$root/$pkg" && cat go.mod go.sum ./*.go | sha256sum | cut -c1-16)"
fi

cache="${CFS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cfs-tools}/$tool-$ver"
bin="$cache/$(basename "$pkg")"
if [ ! -x "$bin" ]; then
  mkdir -p "$cache"
  # Test files run in parallel: one builds, the others wait for it.
  exec 9>"$cache.lock"
  command -v flock >/dev/null && flock 9
  if [ ! -x "$bin" ]; then
    echo "building $pkg@$ver (first time only, may take minutes)..." >&2
    if [[ $ver == src-* ]]; then
      (cd "$root/$pkg" && GOFLAGS=-mod=readonly go build -o "$bin.tmp" . >&2 && mv -f "$bin.tmp" "$bin")
    else
      GOBIN="$cache" GOFLAGS=-mod=mod go install "$pkg@$ver" >&2
    fi
  fi
fi
echo "$bin"

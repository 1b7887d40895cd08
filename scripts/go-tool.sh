#!/usr/bin/env bash
# Prints the path of a pinned Go tool, building it from the Go module proxy the
# first time. Binaries live in a per-machine cache outside the clone (so a fresh
# CI clone reuses them), keyed by module version so a pin change rebuilds.
#   usage: scripts/go-tool.sh minio|grpcurl|helm|ghz
set -euo pipefail

tool="${1:?usage: go-tool.sh <tool>}"
case "$tool" in
  minio)   pkg="github.com/minio/minio";                       ver="v0.0.0-20260212201848-7aac2a2c5b7c" ;;
  grpcurl) pkg="github.com/fullstorydev/grpcurl/cmd/grpcurl";  ver="v1.9.3" ;;
  helm)    pkg="helm.sh/helm/v3/cmd/helm";                     ver="v3.22.0" ;;
  ghz)     pkg="github.com/bojand/ghz/cmd/ghz";                ver="v0.120.0" ;;
  *) echo "go-tool.sh: unknown tool '$tool'" >&2; exit 2 ;;
esac

cache="${CFS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cfs-tools}/$tool-$ver"
bin="$cache/$(basename "$pkg")"
if [ ! -x "$bin" ]; then
  echo "building $pkg@$ver (first time only, may take minutes)..." >&2
  mkdir -p "$cache"
  GOBIN="$cache" GOFLAGS=-mod=mod go install "$pkg@$ver" >&2
fi
echo "$bin"

#!/usr/bin/env bash
# Builds the descriptor set Envoy's gRPC-JSON transcoder reads (gateway/descriptor.binpb,
# not committed): cfs's protos with every import (google/api/*, google/protobuf/*) and
# their source info, as `buf build` writes them by default (no --exclude-imports or
# --exclude-source-info). Then checks gateway/envoy.yaml against it with tools/envoy-check:
# every transcoded service must be in the set, with source info.
#   gateway/build-descriptor.sh [OUT]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/gateway/descriptor.binpb}"
cd "$root"
npx buf build proto -o "$out"
"$("$root/scripts/go-tool.sh" envoy-check)" -descriptor "$out" "$root/gateway/envoy.yaml" >/dev/null
echo "$out"

#!/usr/bin/env bash
# Writes the FileDescriptorSet that server reflection serves: cfs's protos
# with their imports, plus grpc.health.v1 (from grpc-health-check). Two
# serialized FileDescriptorSets concatenated are one valid set (repeated field).
set -euo pipefail
out="${1:?usage: descriptor-set.sh OUT}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx buf build proto -o "$tmp/cfs.binpb"
npx buf build node_modules/grpc-health-check/proto -o "$tmp/health.binpb"
cat "$tmp/cfs.binpb" "$tmp/health.binpb" > "$out"

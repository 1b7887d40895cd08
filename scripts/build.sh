#!/usr/bin/env bash
# Compiles the services, kit, dev launcher and CLI to plain JavaScript in
# dist/ (what images run: no TypeScript loader in memory), and copies the
# files they read at run time next to the code, at the same relative paths.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx tsc -p tsconfig.build.json
cp gen/descriptor-set.binpb dist/gen/
# The compiled code imports shared code as #lib/… and #gen/… (package.json
# "imports"); inside dist/ those must resolve to the compiled files.
node -e 'const p = require("./package.json"); require("fs").writeFileSync("dist/package.json", JSON.stringify({ type: p.type, imports: p.imports }, null, 2) + "\n")'
for migrations in services/*/migrations; do
  mkdir -p "dist/$migrations" && cp -r "$migrations/." "dist/$migrations/"
done

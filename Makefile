# cfs — every target does its own set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM_STAMP := node_modules/.install-stamp
# The web page's sources: web/dist is rebuilt when one of them is newer.
WEB_SOURCES := $(shell find web -path web/dist -prune -o -type f -print 2>/dev/null)
WEB_STAMP := web/dist/.build-stamp

.PHONY: help install gen check-gen lint typecheck build web test test-unit run bench bench-chunking soak tools clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NPM_STAMP) ## Install npm dependencies (npm ci)

gen: install ## Regenerate gen/ from proto/ (buf + ts-proto, the descriptor set reflection serves, the OpenAPI document)
	npx buf lint proto
	npx buf generate
	scripts/descriptor-set.sh gen/descriptor-set.binpb
	npx tsx gateway/openapi/generate.ts gen/descriptor-set.binpb gen/openapi.json
	cp gen/openapi.json deploy/helm/cfs/files/openapi.json

check-gen: install ## Fail when gen/ is stale against proto/
	@tmp=$$(mktemp -d) && npx buf generate --output "$$tmp" && scripts/descriptor-set.sh "$$tmp/gen/descriptor-set.binpb" && \
	  npx tsx gateway/openapi/generate.ts "$$tmp/gen/descriptor-set.binpb" "$$tmp/gen/openapi.json" && \
	  if ! diff -r "$$tmp/gen" gen >/dev/null; then \
	    diff -r "$$tmp/gen" gen | head -20; rm -rf "$$tmp"; \
	    echo "gen/ is stale: run 'make gen' and commit the result"; exit 1; \
	  fi; rm -rf "$$tmp"; \
	  if ! cmp -s gen/openapi.json deploy/helm/cfs/files/openapi.json; then \
	    echo "deploy/helm/cfs/files/openapi.json differs from gen/openapi.json: run 'make gen' and commit the result"; exit 1; \
	  fi; echo "gen/ is up to date"

lint: install ## buf lint, type check, eslint
	npx buf lint proto
	npx tsc --noEmit -p tsconfig.json
	npx tsc --noEmit -p web/tsconfig.json
	npx eslint .

typecheck: install
	npx tsc --noEmit -p tsconfig.json

build: install ## Compile to plain JavaScript in dist/ (what images run)
	scripts/build.sh

$(WEB_STAMP): $(NPM_STAMP) $(WEB_SOURCES)
	npx vite build web
	@touch $@

web: $(WEB_STAMP) ## Build the web page into web/dist (Vite), when its sources changed

tools: ## Build the pinned Go tools (MinIO, grpcurl, Helm, k8s-check, envoy-check) into the per-machine cache
	@scripts/go-tool.sh minio >/dev/null
	@scripts/go-tool.sh grpcurl >/dev/null
	@scripts/go-tool.sh helm >/dev/null
	@scripts/go-tool.sh k8s-check >/dev/null
	@scripts/go-tool.sh envoy-check >/dev/null

test: install lint check-gen tools web ## Everything CI runs: lint, codegen check, unit, contract and end-to-end tests
	scripts/ensure-postgres.sh
	scripts/ensure-chromium.sh
	scripts/ensure-webdav-clients.sh
	npx vitest run

test-unit: install ## Only the fast unit tests
	npx vitest run lib services cli bench

run: install web ## Run all of cfs on this machine (PGlite, local chunks, dev issuer unless CFS_* say otherwise)
	npx tsx dev/run.ts

bench: install tools ## 1 GiB through cfs, tusd and straight into MinIO, same run: MB/s, CPU-s per GiB and peak RSS per process
	@scripts/go-tool.sh tusd >/dev/null
	npx tsx bench/bench.ts

soak: install tools ## Crash soak: the real stack under load for CFS_SOAK_SECONDS (300), services SIGKILLed, PostgreSQL and MinIO restarted, bytes flipped; "N passed, M failed"
	npx tsx tests/soak/main.ts

bench-chunking: install ## FastCDC averages side by side: scan vs SHA-256 speed, chunk sizes, bytes sent on re-uploads and edits
	npx tsx bench/chunking.ts

clean: ## Remove local data of make run
	rm -rf .data .tmp dist web/dist

# syntax=docker/dockerfile:1
# cfs images. One stage per image, all sharing the build below:
#   docker build --target chunker -t cfs/chunker .      (also metadata, block-storage, sync, webdav)
#   docker build --target dev-issuer -t cfs/dev-issuer . (kind and trials only)
#   docker build --target web -t cfs/web .               (the web page, built here with Vite)
# The services run as compiled JavaScript (scripts/build.sh -> dist/) on Node, with
# production dependencies only, as user 1000 under tini (signals forwarded, children
# reaped; Node as PID 1 would ignore a SIGTERM that arrives before its handlers exist).

# Node 20: the version the tests run on (package.json engines: >=20).
ARG NODE_IMAGE=node:20.20.2-bookworm-slim
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.28-alpine

# ---- production dependencies (native: better-sqlite3) --------------------------------
FROM ${NODE_IMAGE} AS deps
# A compiler in case no prebuilt better-sqlite3 fits; tini for the runtime stage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# ---- compile TypeScript to dist/ ------------------------------------------------------
FROM deps AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.sh scripts/build.sh
COPY gen gen
COPY lib lib
COPY services services
COPY dev dev
COPY cli cli
RUN scripts/build.sh

# ---- the web page: Vite builds web/ into web/dist -------------------------------------
# Its own stage (the same npm ci layer as build's), so that the page and the services
# rebuild independently.
FROM deps AS web-build
RUN npm ci --no-audit --no-fund
COPY web web
RUN npx vite build web

# ---- what every service image runs on -------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# Nothing installs packages at run time: npm, npx, corepack and yarn go.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg
COPY --from=deps /usr/bin/tini-static /usr/bin/tini
ENV NODE_ENV=production
# glibc keeps the 1 MiB chunk buffers mmapped, so RSS falls back when they are freed, and
# a small young generation frees message buffers sooner (the same settings as
# dev/stack.ts, where they were measured).
ENV MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2 NODE_OPTIONS=--max-semi-space-size=2
WORKDIR /app
# package.json: "type": "module" for dist/.
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Numeric, so that runAsNonRoot can be verified (the image's "node" user).
USER 1000:1000
# --initial-old-space-size: see SERVICE_V8_FLAGS in dev/stack.ts (measured there; NODE_OPTIONS refuses it).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--initial-old-space-size=64"]

# ---- the web page: static files behind the gateway ------------------------------------
# nginx-unprivileged (user 101, port 8080, pid and temporary files in /tmp); /config.json
# comes from the chart's ConfigMap, mounted at /etc/cfs-web/.
FROM ${NGINX_IMAGE} AS web
COPY deploy/docker/nginx.conf /etc/nginx/conf.d/default.conf
COPY --from=web-build /app/web/dist/ /usr/share/nginx/html/

# ---- development token issuer (kind and trials) ---------------------------------------
FROM runtime AS dev-issuer
COPY deploy/docker/dev-issuer.mjs ./dev-issuer.mjs
EXPOSE 8090
CMD ["dev-issuer.mjs"]

# ---- the four services ----------------------------------------------------------------
FROM runtime AS block-storage
EXPOSE 8003 9103
CMD ["dist/services/block-storage/src/main.js"]

FROM runtime AS sync
EXPOSE 8001 9101
CMD ["dist/services/sync/src/main.js"]

FROM runtime AS metadata
EXPOSE 8000 9100
CMD ["dist/services/metadata/src/main.js"]

FROM runtime AS webdav
EXPOSE 8005 9105
CMD ["dist/services/webdav/src/main.js"]

FROM runtime AS chunker
EXPOSE 8002 9102
CMD ["dist/services/chunker/src/main.js"]

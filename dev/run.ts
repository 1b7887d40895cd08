import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { startStack, type ExternalAuth, type StackOptions } from "./stack.js";
import { passedThrough } from "./supervisor.js";

/**
 * `make run`: the whole service on this machine. With no configuration it is
 * self-contained (PGlite, chunks on disk, a dev token issuer); each of
 * CFS_DATABASE_URL, CFS_S3_* and CFS_AUTH_* switches one part to a real server.
 * Every other CFS_* variable (docs/conventions.md) reaches the services as
 * given, and a service that exits on its own is restarted with backoff.
 */
const env = process.env;
const dataDir = resolve(env.CFS_DATA_DIR ?? ".data");

function externalAuth(): ExternalAuth | undefined {
  if (!env.CFS_AUTH_ISSUER) return undefined;
  const missing = ["CFS_AUTH_AUDIENCE", "CFS_SERVICE_CLIENT_ID", "CFS_SERVICE_CLIENT_SECRET"].filter((n) => !env[n]);
  if (missing.length > 0) throw new Error(`CFS_AUTH_ISSUER is set, so these are needed too: ${missing.join(", ")}`);
  return {
    issuer: env.CFS_AUTH_ISSUER,
    audience: env.CFS_AUTH_AUDIENCE!,
    jwksUri: env.CFS_AUTH_JWKS_URI,
    serviceClientId: env.CFS_SERVICE_CLIENT_ID!,
    serviceClientSecret: env.CFS_SERVICE_CLIENT_SECRET!,
    serviceTokenUrl: env.CFS_SERVICE_TOKEN_URL,
    spaClientId: env.CFS_AUTH0_SPA_CLIENT_ID,
  };
}

const options: StackOptions = {
  dataDir,
  inheritedEnv: passedThrough(env),
  supervise: true,
  databaseUrl: env.CFS_DATABASE_URL,
  persistPglite: true,
  s3: env.CFS_S3_ENDPOINT
    ? {
        endpoint: env.CFS_S3_ENDPOINT,
        accessKey: env.CFS_S3_ACCESS_KEY ?? "",
        secretKey: env.CFS_S3_SECRET_KEY ?? "",
        bucket: env.CFS_S3_BUCKET ?? "cfs-chunks",
      }
    : undefined,
  auth: externalAuth(),
  defaultPorts: true,
  devIssuerPort: Number(env.CFS_DEV_ISSUER_PORT ?? 8090),
  logs: "files",
  edge: {
    port: Number(env.CFS_EDGE_PORT ?? 8080),
    webRoot: existsSync(resolve("web/dist/index.html")) ? resolve("web/dist") : undefined,
    corsOrigins: (env.CFS_EDGE_CORS_ORIGINS ?? "").split(",").map((o) => o.trim()).filter(Boolean),
  },
};

const stack = await startStack(options);
const line = (label: string, value: string) => process.stdout.write(`  ${label.padEnd(16)} ${value}\n`);
process.stdout.write("\ncfs is running\n\n");
line("web page", options.edge!.webRoot ? `${stack.edgeUrl}/` : "not built (make web)");
line("REST", `${stack.edgeUrl}/v1/files`);
line("WebDAV", `${stack.edgeUrl}/dav/   (user name + app password: cfs app-password create --label …)`);
line("chunker", `${stack.addresses.chunker}   (UploadFile, DownloadFile)`);
line("metadata", `${stack.addresses.metadata}   (files, versions, chunks)`);
line("sync", stack.addresses.sync);
line("block-storage", stack.addresses["block-storage"]);
line("metrics", Object.entries(stack.metricsPorts).map(([n, p]) => `${n} :${p}/metrics`).join(", "));
line("database", options.databaseUrl ? "PostgreSQL (CFS_DATABASE_URL)" : `PGlite in ${dataDir}/pglite`);
line("chunks", options.s3 ? `S3 ${options.s3.endpoint} bucket ${options.s3.bucket}` : `${dataDir}/blocks`);
line("logs", `${dataDir}/logs/<service>.log`);
if (stack.issuer) {
  line("token issuer", `${stack.issuer.issuer} (dev only)`);
  process.stdout.write(`
Get a token and use the CLI or grpcurl:
  export CFS_TOKEN=$(./cli/bin/cfs token alice)
  ./cli/bin/cfs put README.md && ./cli/bin/cfs ls
  curl -H "authorization: Bearer $CFS_TOKEN" ${stack.edgeUrl}/v1/files
  grpcurl -plaintext -H "authorization: Bearer $CFS_TOKEN" localhost:8000 cfs.metadata.v1.MetadataService/ListFiles
`);
} else {
  line("token issuer", `${options.auth!.issuer} (audience ${options.auth!.audience})`);
}
process.stdout.write("\nCtrl-C stops everything.\n");

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("\nstopping...\n");
    void stack.stop().then(() => process.exit(0));
  });
}

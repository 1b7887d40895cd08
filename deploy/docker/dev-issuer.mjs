// The development token issuer of `make run` (dev/issuer.ts) in a pod, for kind
// and trials. dev/issuer.ts listens on loopback and names itself
// http://127.0.0.1:<port>/ in the tokens' iss claim; this runs it on the port
// of CFS_DEV_ISSUER_URL and relays CFS_DEV_ISSUER_PORT on every interface to
// it, so that the services (JWKS, client credentials) and users (GET
// /dev/token?sub=alice) reach it by its Service. The iss claim stays that
// loopback URL: a name that only has to match CFS_AUTH_ISSUER.
//
//   CFS_DEV_ISSUER_PORT       public port (8090), on CFS_DEV_ISSUER_HOST (0.0.0.0)
//   CFS_DEV_ISSUER_URL        the iss claim, http://127.0.0.1:<port>/ (http://127.0.0.1:8091/)
//   CFS_DEV_ISSUER_KEY_FILE   PEM private key to sign with (kept in a Secret, so that
//                             tokens outlive the pod); unset: a new key per start
//   CFS_AUTH_AUDIENCE, CFS_AUTH_SERVICE_SCOPE, CFS_SERVICE_CLIENT_ID, CFS_SERVICE_CLIENT_SECRET
//   CFS_DATA_DIR              writable directory for the key file dev/issuer.ts reads
//   CFS_DEV_ISSUER_MODULE     where dev/issuer is (default: ./dist/dev/issuer.js beside this file)
/* global process, URL */
import { createHash, createPrivateKey } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const env = process.env;
const log = (msg, fields = {}) => process.stdout.write(`${JSON.stringify({ time: Date.now(), name: "dev-issuer", msg, ...fields })}\n`);
const required = (name) => {
  const value = env[name];
  if (!value) {
    log("invalid configuration", { missing: name });
    process.exit(1);
  }
  return value;
};

const moduleUrl = env.CFS_DEV_ISSUER_MODULE ? pathToFileURL(env.CFS_DEV_ISSUER_MODULE).href : new URL("./dist/dev/issuer.js", import.meta.url).href;
const { startDevIssuer } = await import(moduleUrl);

const issuerUrl = new URL(env.CFS_DEV_ISSUER_URL ?? "http://127.0.0.1:8091/");
if (issuerUrl.protocol !== "http:" || issuerUrl.hostname !== "127.0.0.1" || !issuerUrl.port || issuerUrl.pathname !== "/") {
  log("invalid configuration", { CFS_DEV_ISSUER_URL: issuerUrl.href, expected: "http://127.0.0.1:<port>/ (the iss dev/issuer.ts writes)" });
  process.exit(1);
}
const loopbackPort = Number(issuerUrl.port);
const publicPort = Number(env.CFS_DEV_ISSUER_PORT ?? 8090);

// dev/issuer.ts keeps its key as {privateJwk, kid} in keyDir: write the PEM there in that form.
const keyDir = join(env.CFS_DATA_DIR ?? "/tmp/cfs", "dev-issuer");
if (env.CFS_DEV_ISSUER_KEY_FILE) {
  const pem = await readFile(env.CFS_DEV_ISSUER_KEY_FILE, "utf8");
  const privateJwk = createPrivateKey(pem).export({ format: "jwk" });
  const kid = `dev-${createHash("sha256").update(pem).digest("hex").slice(0, 16)}`;
  await mkdir(keyDir, { recursive: true });
  await writeFile(join(keyDir, "dev-issuer-key.json"), JSON.stringify({ privateJwk, kid }), { mode: 0o600 });
}

const issuer = await startDevIssuer({
  port: loopbackPort,
  keyDir: env.CFS_DEV_ISSUER_KEY_FILE ? keyDir : undefined,
  audience: required("CFS_AUTH_AUDIENCE"),
  serviceClientId: required("CFS_SERVICE_CLIENT_ID"),
  serviceClientSecret: required("CFS_SERVICE_CLIENT_SECRET"),
  serviceScope: env.CFS_AUTH_SERVICE_SCOPE || undefined,
});

const relay = createServer((client) => {
  const upstream = connect(loopbackPort, "127.0.0.1");
  client.pipe(upstream).pipe(client);
  client.on("error", () => upstream.destroy());
  upstream.on("error", () => client.destroy());
});
await new Promise((resolve, reject) => {
  relay.once("error", reject);
  relay.listen(publicPort, env.CFS_DEV_ISSUER_HOST ?? "0.0.0.0", resolve);
});
log("listening", { port: relay.address().port, issuer: issuer.issuer, kid: issuer.kid });

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, () => {
    log("stopping", { signal });
    relay.close();
    void issuer.close().then(() => process.exit(0));
  });
}

import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createTokenVerifier, parseAuthConfig } from "#lib/auth.js";
import { freePort, waitFor } from "../support/net.js";
import { REPO } from "./tools.js";

/**
 * The image cfs/dev-issuer runs deploy/docker/dev-issuer.mjs around
 * dev/issuer.ts. Here it runs on the TypeScript source (the image runs the
 * compiled one), on loopback (all interfaces in its pod); tokens are
 * checked by the services' own verifier.
 */

const dir = mkdtempSync(join(tmpdir(), "cfs-dev-issuer-"));
const keyFile = join(dir, "signing-key.pem");
// What the chart's genPrivateKey "rsa" writes: a PKCS#1 PEM.
writeFileSync(keyFile, generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }));
const audience = "https://cfs.local/api";
let child: ChildProcess | undefined;

afterEach(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(publicPort: number, loopbackPort: number): Promise<{ base: string; issuer: string }> {
  const issuer = `http://127.0.0.1:${loopbackPort}/`;
  child = spawn(process.execPath, ["--import", "tsx", join(REPO, "deploy/docker/dev-issuer.mjs")], {
    cwd: REPO,
    env: {
      PATH: process.env.PATH ?? "",
      CFS_DEV_ISSUER_MODULE: join(REPO, "dev/issuer.ts"),
      CFS_DEV_ISSUER_PORT: String(publicPort),
      // All interfaces in its pod; loopback here.
      CFS_DEV_ISSUER_HOST: "127.0.0.1",
      CFS_DEV_ISSUER_URL: issuer,
      CFS_DEV_ISSUER_KEY_FILE: keyFile,
      CFS_AUTH_AUDIENCE: audience,
      CFS_SERVICE_CLIENT_ID: "cfs-services",
      CFS_SERVICE_CLIENT_SECRET: "s3cret",
      CFS_DATA_DIR: join(dir, "data"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const base = `http://127.0.0.1:${publicPort}/`;
  await waitFor(async () => (await fetch(`${base}.well-known/jwks.json`).catch(() => undefined))?.ok === true, 30_000, "the dev issuer");
  return { base, issuer };
}

async function token(base: string, init?: { body: string }): Promise<string> {
  const response = init
    ? await fetch(`${base}oauth/token`, { method: "POST", headers: { "content-type": "application/json" }, body: init.body })
    : await fetch(`${base}dev/token?sub=alice`);
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

describe("dev issuer image entry point", () => {
  it("serves user and service tokens on its public port that the services' verifier accepts, with a key that survives restarts", async () => {
    const [publicPort, loopbackPort] = [await freePort(), await freePort()];
    let { base, issuer } = await start(publicPort, loopbackPort);
    const verify = createTokenVerifier(
      parseAuthConfig({ CFS_AUTH_ISSUER: issuer, CFS_AUTH_AUDIENCE: audience, CFS_AUTH_JWKS_URI: `${base}.well-known/jwks.json` }),
    );
    const user = await token(base);
    expect(await verify(user)).toEqual({ subject: "alice", isService: false });
    const service = await token(base, {
      body: JSON.stringify({ grant_type: "client_credentials", client_id: "cfs-services", client_secret: "s3cret" }),
    });
    expect(await verify(service)).toEqual({ subject: "cfs-services@clients", isService: true });
    const refused = await fetch(`${base}oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ grant_type: "client_credentials", client_id: "cfs-services", client_secret: "wrong" }),
    });
    expect(refused.status).toBe(401);

    // A new pod with the same Secret: tokens issued before still verify, against a fresh verifier.
    child!.kill("SIGTERM");
    await new Promise((resolve) => child!.once("exit", resolve));
    ({ base, issuer } = await start(publicPort, loopbackPort));
    const fresh = createTokenVerifier(
      parseAuthConfig({ CFS_AUTH_ISSUER: issuer, CFS_AUTH_AUDIENCE: audience, CFS_AUTH_JWKS_URI: `${base}.well-known/jwks.json` }),
    );
    expect(await fresh(user)).toEqual({ subject: "alice", isService: false });
    expect(await fresh(service)).toEqual({ subject: "cfs-services@clients", isService: true });
  });

  it("refuses an iss that dev/issuer.ts would not write", async () => {
    const bad = spawn(process.execPath, ["--import", "tsx", join(REPO, "deploy/docker/dev-issuer.mjs")], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? "", CFS_DEV_ISSUER_MODULE: join(REPO, "dev/issuer.ts"), CFS_DEV_ISSUER_URL: "http://dev-issuer:8091/" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    bad.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const code = await new Promise((resolve) => bad.once("exit", resolve));
    expect(code).toBe(1);
    expect(out).toMatch(/invalid configuration/);
  });
});

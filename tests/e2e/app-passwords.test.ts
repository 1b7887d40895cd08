import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { decodeJwt, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppPasswordServiceClient } from "#gen/cfs/metadata/v1/app_passwords.js";
import { createServiceTokenSource } from "#lib/auth.js";
import { channelOptions } from "#lib/grpc-client.js";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { call, clientsFor, expectStatus, upload, type Clients } from "../support/clients.js";

/**
 * App passwords end to end: created by a signed-in user (gRPC and REST),
 * exchanged by a service identity for a short-lived token of the app-token
 * issuer that every service accepts, useless for managing app passwords,
 * revoked at once.
 */
describe("app passwords", () => {
  let stack: RunningStack;
  let dataDir: string;
  let clients: Clients;
  let appPasswords: AppPasswordServiceClient;
  let serviceToken: () => Promise<string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "cfs-app-passwords-"));
    stack = await startStack({ dataDir, defaultPorts: false, logs: "files", edge: {} });
    clients = clientsFor(stack.addresses);
    appPasswords = new AppPasswordServiceClient(stack.addresses.metadata, grpc.credentials.createInsecure(), channelOptions(4 << 20, 4 << 20));
    serviceToken = createServiceTokenSource({
      tokenUrl: stack.issuer!.tokenUrl,
      clientId: "cfs-services",
      clientSecret: "dev-service-secret",
      audience: stack.audience,
    });
  }, 180_000);
  afterAll(async () => {
    clients?.close();
    appPasswords?.close();
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  const create = (token: string, label: string) => call(appPasswords.createAppPassword, appPasswords, { label }, token);
  const list = async (token: string) => (await call(appPasswords.listAppPasswords, appPasswords, {}, token)).appPasswords;
  const exchange = async (username: string, secret: string, token?: string) =>
    call(appPasswords.exchangeAppPassword, appPasswords, { username, secret }, token ?? (await serviceToken()));

  it("exchanges a user's app password for a short-lived token every service accepts, and shows the secret only once", async () => {
    const alice = await stack.issuer!.userToken("alice-ap");
    const created = await create(alice, "laptop Finder");
    expect(created.username).toBe("alice-ap");
    expect(created.secret).toMatch(/^[a-z2-7]{8}(-[a-z2-7]{8}){3}$/);
    const listed = await list(alice);
    expect(listed).toEqual([expect.objectContaining({ id: created.id, label: "laptop Finder", lastUsedAt: undefined })]);
    expect(JSON.stringify(listed)).not.toContain(created.secret.slice(9));

    // Typed without dashes and in capitals, it is the same password.
    const { accessToken, expiresAt } = await exchange("alice-ap", created.secret.replace(/-/g, "").toUpperCase());
    const claims = decodeJwt(accessToken);
    expect(claims).toMatchObject({ sub: "alice-ap", iss: "urn:cfs:app-passwords", aud: stack.audience, cfs_app_password: created.id });
    expect(expiresAt!.getTime() - Date.now()).toBeLessThanOrEqual(300_000);
    // The chunker, block storage (through it) and metadata take it like any user token.
    const file = await upload(clients, accessToken, Buffer.from("via app password"), { name: "ap.txt" });
    const seen = await call(clients.metadata.getFile, clients.metadata, { fileId: file.fileId }, alice);
    expect(seen.file?.name).toBe("ap.txt");
    expect((await list(alice))[0]!.lastUsedAt).toBeInstanceOf(Date);
  });

  it("refuses to manage app passwords in a session opened with one", async () => {
    const bob = await stack.issuer!.userToken("bob-ap");
    const created = await create(bob, "phone");
    const { accessToken } = await exchange("bob-ap", created.secret);
    await expectStatus(create(accessToken, "another"), grpc.status.PERMISSION_DENIED);
    await expectStatus(list(accessToken), grpc.status.PERMISSION_DENIED);
    await expectStatus(call(appPasswords.revokeAppPassword, appPasswords, { id: created.id }, accessToken), grpc.status.PERMISSION_DENIED);
  });

  it("answers every wrong exchange the same way, and only services may exchange", async () => {
    const carol = await stack.issuer!.userToken("carol-ap");
    const created = await create(carol, "desktop");
    const wrong = created.secret.slice(0, -1) + (created.secret.endsWith("a") ? "b" : "a");
    for (const [username, secret] of [
      ["carol-ap", wrong],
      ["mallory", created.secret],
      ["carol-ap", "not-a-password"],
      ["", created.secret],
    ] as const) {
      const err = await expectStatus(exchange(username, secret), grpc.status.UNAUTHENTICATED);
      expect(err.details).toBe("invalid user name or app password");
    }
    await expectStatus(exchange("carol-ap", created.secret, carol), grpc.status.PERMISSION_DENIED);
  });

  it("revokes at once: no exchange after, and another user cannot revoke it", async () => {
    const dave = await stack.issuer!.userToken("dave-ap");
    const eve = await stack.issuer!.userToken("eve-ap");
    const created = await create(dave, "old laptop");
    await exchange("dave-ap", created.secret);
    await expectStatus(call(appPasswords.revokeAppPassword, appPasswords, { id: created.id }, eve), grpc.status.NOT_FOUND);
    await call(appPasswords.revokeAppPassword, appPasswords, { id: created.id }, dave);
    await expectStatus(exchange("dave-ap", created.secret), grpc.status.UNAUTHENTICATED);
    expect(await list(dave)).toEqual([]);
    await expectStatus(call(appPasswords.revokeAppPassword, appPasswords, { id: created.id }, dave), grpc.status.NOT_FOUND);
    await expectStatus(call(appPasswords.revokeAppPassword, appPasswords, { id: "nope" }, dave), grpc.status.INVALID_ARGUMENT);
  });

  it("refuses labels that are empty, too long or hold control characters", async () => {
    const frank = await stack.issuer!.userToken("frank-ap");
    for (const label of ["", "   ", "x".repeat(101), "tab\there"]) await expectStatus(create(frank, label), grpc.status.INVALID_ARGUMENT);
  });

  it("trusts the app-token issuer only for app-password sessions: its tokens never act as a service, and a token signed by the main issuer with its iss is refused", async () => {
    const forged = await new SignJWT({ scope: "cfs:service", cfs_app_password: "x" })
      .setProtectedHeader({ alg: "RS256", kid: stack.issuer!.kid })
      .setIssuer("urn:cfs:app-passwords")
      .setAudience(stack.audience)
      .setSubject("alice-ap")
      .setExpirationTime("5m")
      .sign(stack.issuer!.privateKey);
    await expectStatus(call(clients.metadata.listFiles, clients.metadata, { pageSize: 1, pageToken: "", prefix: "" }, forged), grpc.status.UNAUTHENTICATED);
  });

  it("serves the same over REST through the edge", async () => {
    const grace = await stack.issuer!.userToken("grace-ap");
    const rest = (path: string, init: RequestInit = {}) =>
      fetch(`${stack.edgeUrl}${path}`, { ...init, headers: { authorization: `Bearer ${grace}`, "content-type": "application/json" } });
    const created = (await (await rest("/v1/app-passwords", { method: "POST", body: JSON.stringify({ label: "rclone" }) })).json()) as Record<string, string>;
    expect(Object.keys(created).sort()).toEqual(["id", "secret", "username"]);
    const listed = (await (await rest("/v1/app-passwords")).json()) as { appPasswords: Array<Record<string, unknown>> };
    expect(listed.appPasswords).toEqual([{ id: created.id, label: "rclone", createdAt: expect.any(String) }]);
    expect((await rest(`/v1/app-passwords/${created.id}`, { method: "DELETE" })).status).toBe(200);
    expect((await rest(`/v1/app-passwords/${created.id}`, { method: "DELETE" })).status).toBe(404);
  });
});

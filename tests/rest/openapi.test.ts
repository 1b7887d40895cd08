import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { loadHttpRoutes, loadRegistry, REST_SERVICES } from "../../gateway/edge/routes.js";

/**
 * The OpenAPI document (gen/openapi.json, made by `make gen` from the
 * google.api.http annotations) as the edge serves it, and schemathesis
 * holding the edge to it: a bounded number of generated requests per route
 * with a valid token, no 5xx, every status, content type and body as the
 * document says, and no route that answers without the token.
 */
const SCHEMATHESIS_EXAMPLES = 20;
/** Fixed, so a failure reproduces (`--seed` in the printed command). */
const SCHEMATHESIS_SEED = 1311;

describe("OpenAPI document", () => {
  let stack: RunningStack;
  let dataDir: string;
  let schemathesis: string;
  beforeAll(async () => {
    schemathesis = execFileSync("bash", ["scripts/ensure-schemathesis.sh"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
    dataDir = await mkdtemp(join(tmpdir(), "cfs-openapi-"));
    stack = await startStack({ dataDir, defaultPorts: false, logs: "files", edge: {} });
  }, 300_000);
  afterAll(async () => {
    await stack?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it("is served at /v1/openapi.json without a token, as generated", async () => {
    const response = await fetch(`${stack.edgeUrl}/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(await response.json()).toEqual(JSON.parse(await readFile("gen/openapi.json", "utf8")));
    expect((await fetch(`${stack.edgeUrl}/v1/openapi.json`, { method: "POST" })).status).toBe(405);
  });

  it("describes every annotated route and nothing else", async () => {
    const document = JSON.parse(await readFile("gen/openapi.json", "utf8")) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(document.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((verb) => `${verb.toUpperCase()} ${path.replace(/\{[^}]+\}/g, "{}")}`))
      .sort();
    const routes = loadHttpRoutes(loadRegistry(await readFile("gen/descriptor-set.binpb")), REST_SERVICES);
    expect(documented).toEqual(routes.map((r) => `${r.httpMethod} ${r.template.replace(/\{[^}]+\}/g, "{}")}`).sort());
  });

  it("holds: schemathesis finds no server error and no response outside the document", async () => {
    const token = await stack.issuer!.userToken("schemathesis");
    const args = [
      "--config-file",
      join(process.cwd(), "tests/rest/schemathesis.toml"),
      "run",
      `${stack.edgeUrl}/v1/openapi.json`,
      "--max-examples",
      String(SCHEMATHESIS_EXAMPLES),
      "--seed",
      String(SCHEMATHESIS_SEED),
      "--workers",
      "1",
      "--request-timeout",
      "20",
      // The change feed streams until the client leaves: a request never ends.
      "--exclude-path",
      "/v1/changes",
      "--checks",
      [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "ignored_auth",
      ].join(","),
      "--no-color",
      // No example database: every run starts from the seed.
      "--generation-database",
      "none",
    ];
    const result = await new Promise<{ code: number; output: string }>((resolve) => {
      // In the test's own folder: schemathesis writes its caches (.schemathesis/) where it runs.
      execFile(schemathesis, args, { cwd: dataDir, env: { ...process.env, CFS_FUZZ_TOKEN: token }, maxBuffer: 32 * 1024 * 1024, timeout: 240_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
      );
    });
    expect(result.code, result.output.slice(-8000)).toBe(0);
    expect(result.output).toMatch(/\d+ generated, \d+ passed/);
  }, 300_000);
});

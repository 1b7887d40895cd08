import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envoyCheckTool, validateEnvoyConfig, validateEnvoyYaml, type EnvoyConfig } from "./envoy.js";
import { CHART, REPO, run, TOOL_BUILD_TIMEOUT_MS, tools, yamlToJson, type Tools } from "./tools.js";

/**
 * gateway/envoy.yaml, Envoy on one machine in front of `make run`, is the
 * chart's gateway config rendered with gateway/values.local.yaml by
 * scripts/gateway-config.sh. It must be what the script renders now (not
 * stale), pass Envoy's own schema, and point at make run's ports and issuer.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const LOCAL = join(REPO, "gateway/envoy.yaml");
let t: Tools;
let tmp: string;
let committed: string;
let config: EnvoyConfig;
let local: Json;

beforeAll(async () => {
  t = await tools();
  await envoyCheckTool();
  tmp = await mkdtemp(join(tmpdir(), "cfs-gateway-config-"));
  committed = await readFile(LOCAL, "utf8");
  config = (await yamlToJson<EnvoyConfig>(t, committed))[0]!;
  [local] = await yamlToJson<Json>(t, await readFile(join(REPO, "gateway/values.local.yaml"), "utf8"));
}, TOOL_BUILD_TIMEOUT_MS);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("gateway/envoy.yaml", () => {
  it("is what scripts/gateway-config.sh renders from the chart now (run it and commit the result when this fails)", async () => {
    const out = join(tmp, "envoy.yaml");
    const rendered = await run(join(REPO, "scripts/gateway-config.sh"), ["-o", out]);
    expect(rendered.code, rendered.stderr).toBe(0);
    expect(committed === (await readFile(out, "utf8")), "gateway/envoy.yaml is stale: run scripts/gateway-config.sh").toBe(true);
  });

  it("passes Envoy's own schema validation, its transcoder's services in the descriptor set", async () => {
    expect(await validateEnvoyYaml(committed)).toEqual([]);
  });

  it("fronts make run: services on 127.0.0.1:8000-8002, the dev issuer's JWKS, :8081, the descriptor set under gateway/", async () => {
    const [values] = await yamlToJson<Json>(t, await readFile(join(CHART, "values.yaml"), "utf8"));
    const problems = validateEnvoyConfig(config, {
      transcoding: true,
      web: false,
      webdav: true,
      port: 8081,
      metricsPort: 9104,
      descriptorPath: "gateway/descriptor.binpb",
      corsOrigins: local.gateway.cors.allowedOrigins,
      blockedMethods: values.gateway.blockedMethods,
      upstream: (host, port) => host === "127.0.0.1" && [8000, 8001, 8002, 8005].includes(port),
    });
    expect(problems).toEqual([]);
    const listener = config.static_resources.listeners.find((l) => l.name === "gateway")!;
    expect(listener.address.socket_address.address, "loopback only").toBe("127.0.0.1");
    const hcm = listener.filter_chains[0]!.filters[0]!.typed_config;
    const provider = hcm.http_filters.find((f: Json) => f.name === "envoy.filters.http.jwt_authn").typed_config.providers.cfs;
    // dev/stack.ts: the dev issuer's iss is http://127.0.0.1:<port>/ and the audience https://cfs.local/api.
    expect(provider).toMatchObject({
      issuer: "http://127.0.0.1:8090/",
      audiences: ["https://cfs.local/api"],
      forward: true,
      remote_jwks: { http_uri: { uri: "http://127.0.0.1:8090/.well-known/jwks.json", cluster: "issuer" } },
    });
    const issuer = config.static_resources.clusters.find((c) => c.name === "issuer")!;
    expect(issuer.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: "127.0.0.1", port_value: 8090 });
    expect(issuer.transport_socket, "plain HTTP to the local issuer").toBeUndefined();
  });
});

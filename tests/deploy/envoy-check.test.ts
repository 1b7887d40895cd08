import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DESCRIPTOR_SET, envoyCheckTool, validateEnvoyYaml } from "./envoy.js";
import { CHART, REPO, run, TOOL_BUILD_TIMEOUT_MS, tools, yamlToJson } from "./tools.js";

/**
 * tools/envoy-check: Envoy's own schema (go-control-plane protos and their
 * protoc-gen-validate rules) applied offline. A good config passes; each kind
 * of mistake fails with the path where it is and a message saying what is
 * wrong, including mistakes inside typed_config (Any) messages, which a
 * Bootstrap's own ValidateAll never looks into.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** A small config with everything the gateway uses: JSON is YAML, so it goes in as it is. */
function goodConfig(): Json {
  const cluster = (name: string, port: number) => ({
    name,
    type: "STRICT_DNS",
    connect_timeout: "2s",
    per_connection_buffer_limit_bytes: 1048576,
    typed_extension_protocol_options: {
      [HTTP_OPTIONS]: {
        "@type": `type.googleapis.com/${HTTP_OPTIONS}`,
        explicit_http_config: { http2_protocol_options: { initial_stream_window_size: 4194304 } },
      },
    },
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } } }] }],
    },
  });
  return {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: 9901 } } },
    static_resources: {
      listeners: [
        {
          name: "gateway",
          address: { socket_address: { address: "127.0.0.1", port_value: 8081 } },
          filter_chains: [
            {
              filters: [
                {
                  name: "envoy.filters.network.http_connection_manager",
                  typed_config: {
                    "@type": HCM,
                    stat_prefix: "gateway",
                    codec_type: "AUTO",
                    stream_idle_timeout: "300s",
                    route_config: {
                      virtual_hosts: [
                        {
                          name: "cfs",
                          domains: ["*"],
                          routes: [
                            { match: { prefix: "/cfs.metadata.v1.MetadataService/" }, route: { cluster: "metadata", timeout: "0s" } },
                            { match: { prefix: "/" }, direct_response: { status: 404 } },
                          ],
                        },
                      ],
                    },
                    http_filters: [
                      {
                        name: "envoy.filters.http.jwt_authn",
                        typed_config: {
                          "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
                          providers: {
                            cfs: {
                              issuer: "http://127.0.0.1:8090/",
                              audiences: ["https://cfs.local/api"],
                              forward: true,
                              remote_jwks: { http_uri: { uri: "http://127.0.0.1:8090/.well-known/jwks.json", cluster: "issuer", timeout: "5s" } },
                            },
                          },
                          rules: [{ match: { prefix: "/" }, requires: { provider_name: "cfs" } }],
                        },
                      },
                      {
                        name: "envoy.filters.http.grpc_json_transcoder",
                        typed_config: {
                          "@type": "type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
                          proto_descriptor: "gateway/descriptor.binpb",
                          services: ["cfs.metadata.v1.MetadataService"],
                          convert_grpc_status: true,
                          max_request_body_size: 4194304,
                        },
                      },
                      { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        cluster("metadata", 8000),
        {
          name: "issuer",
          type: "LOGICAL_DNS",
          connect_timeout: "5s",
          load_assignment: {
            cluster_name: "issuer",
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 8090 } } } }] }],
          },
        },
      ],
    },
  };
}

const hcm = (c: Json) => c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const jwt = (c: Json) => hcm(c).http_filters[0].typed_config;
const HCM_PATH = "static_resources.listeners[0].filter_chains[0].filters[0].typed_config";
const JWT_PATH = `${HCM_PATH}.http_filters[0].typed_config`;

function mutated(change: (c: Json) => void): string {
  const config = goodConfig();
  change(config);
  return JSON.stringify(config, null, 2);
}

let tmp: string;

beforeAll(async () => {
  await envoyCheckTool();
  tmp = await mkdtemp(join(tmpdir(), "cfs-envoy-check-"));
}, TOOL_BUILD_TIMEOUT_MS);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("envoy-check", () => {
  it("accepts a good config", async () => {
    expect(await validateEnvoyYaml(JSON.stringify(goodConfig()))).toEqual([]);
  });

  const broken: Array<[string, (c: Json) => void, string]> = [
    ["a misspelled field", (c) => (hcm(c).stat_prefx = hcm(c).stat_prefix), `${HCM_PATH}.stat_prefx: unknown field "stat_prefx" of envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager (did you mean "stat_prefix"?)`],
    ["a field of the wrong message", (c) => (c.static_resources.clusters[0].issuer = "x"), `static_resources.clusters[0].issuer: unknown field "issuer" of envoy.config.cluster.v3.Cluster`],
    ["an enum value that does not exist", (c) => (hcm(c).codec_type = "HTTP9"), `${HCM_PATH}.codec_type: "HTTP9" is not a value of enum envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.CodecType (one of AUTO, HTTP1, HTTP2, HTTP3)`],
    ["a wrong @type", (c) => (hcm(c)["@type"] = HCM.replace("v3.", "v2.")), `${HCM_PATH}.@type: unknown @type "${HCM.replace("v3.", "v2.")}"`],
    ["a duration without its unit", (c) => (c.static_resources.clusters[0].connect_timeout = 2), `static_resources.clusters[0].connect_timeout: a duration is a string of seconds with an s suffix`],
    ["a list where an object belongs", (c) => (c.admin.address = []), `admin.address: expected an object (envoy.config.core.v3.Address); got a list`],
    ["a jwt provider without a key source", (c) => delete jwt(c).providers.cfs.remote_jwks, `${JWT_PATH}.providers[cfs]: one of remote_jwks, local_jwks: value is required`],
    ["a JWKS fetch without a timeout", (c) => delete jwt(c).providers.cfs.remote_jwks.http_uri.timeout, `${JWT_PATH}.providers[cfs].remote_jwks.http_uri.timeout: value is required`],
    ["a jwt rule naming an unknown provider", (c) => (jwt(c).rules[0].requires.provider_name = "auth0"), `${JWT_PATH}.rules[0].requires.provider_name: no jwt provider named "auth0"`],
    ["a cluster without a name", (c) => delete c.static_resources.clusters[1].name, "static_resources.clusters[1].name: value length must be at least 1 runes"],
    ["a route to a cluster that does not exist", (c) => (c.static_resources.clusters[0].name = "metadata-v2"), `${HCM_PATH}.route_config.virtual_hosts[0].routes[0].route.cluster: no cluster named "metadata"`],
    ["a port out of range", (c) => (c.static_resources.listeners[0].address.socket_address.port_value = 80800), "static_resources.listeners[0].address.socket_address.port_value: value must be less than or equal to 65535"],
    ["the router before another filter", (c) => hcm(c).http_filters.reverse(), `${HCM_PATH}.http_filters[0]: the router (envoy.filters.http.router) must be the last HTTP filter`],
    [
      "an invalid value inside an Any inside a map (ValidateAll of the Bootstrap never sees it)",
      (c) => (c.static_resources.clusters[0].typed_extension_protocol_options[HTTP_OPTIONS].explicit_http_config.http2_protocol_options.initial_stream_window_size = 100),
      `static_resources.clusters[0].typed_extension_protocol_options[${HTTP_OPTIONS}].explicit_http_config.http2_protocol_options.initial_stream_window_size: value must be inside range [65535, 2147483647]`,
    ],
    ["a STATIC cluster with a host name", (c) => Object.assign(c.static_resources.clusters[0], { type: "STATIC" }, { load_assignment: { ...c.static_resources.clusters[0].load_assignment, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "localhost", port_value: 1 } } } }] }] } }), "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address: a STATIC cluster needs IP addresses, not \"localhost\""],
    ["a transcoded service missing from the descriptor set", (c) => hcm(c).http_filters[1].typed_config.services.push("cfs.nope.v1.NopeService"), `${HCM_PATH}.http_filters[1].typed_config.services[1]: service "cfs.nope.v1.NopeService" is not in the descriptor set`],
  ];
  it.each(broken)("rejects %s, saying where and what", async (_what, change, message) => {
    const problems = await validateEnvoyYaml(mutated(change));
    expect(problems.length, problems.join("\n")).toBeGreaterThan(0);
    expect(problems.some((p) => p.startsWith(message)), `expected "${message}" in:\n${problems.join("\n")}`).toBe(true);
  });

  it("rejects an integer in exponent form (Helm prints large integer values so without | int)", async () => {
    const yaml = "admin:\n  address:\n    socket_address: {address: 127.0.0.1, port_value: 9901}\nstatic_resources:\n  clusters:\n    - name: a\n      per_connection_buffer_limit_bytes: 1.048576e+06\n";
    expect(await validateEnvoyYaml(yaml)).toEqual([
      "line 7: a number in exponent form (per_connection_buffer_limit_bytes: 1.048576e+06): write integers in full (Helm: | int)",
    ]);
  });

  it("reports every problem of a config at once", async () => {
    const problems = await validateEnvoyYaml(
      mutated((c) => {
        delete c.static_resources.clusters[1].name;
        c.static_resources.listeners[0].address.socket_address.port_value = 0;
        delete jwt(c).providers.cfs.remote_jwks.http_uri.uri;
      }),
    );
    expect(problems.length, problems.join("\n")).toBeGreaterThanOrEqual(3);
  });

  it("rejects YAML with a key given twice", async () => {
    const problems = await validateEnvoyYaml("admin: {}\nadmin: {}\n");
    expect(problems.join("\n")).toMatch(/^not YAML: .*key "admin" already set in map/);
  });

  it("names each file, prints ok for good ones and exits 1 when any has a problem", async () => {
    const good = join(tmp, "good.yaml");
    const bad = join(tmp, "bad.yaml");
    await writeFile(good, JSON.stringify(goodConfig()));
    await writeFile(bad, mutated((c) => (hcm(c).codec_type = "HTTP9")));
    const tool = await envoyCheckTool();
    expect(await run(tool, [good])).toMatchObject({ code: 0, stdout: `${good}: ok\n` });
    const both = await run(tool, [good, bad]);
    expect(both.code).toBe(1);
    expect(both.stdout).toContain(`${good}: ok`);
    expect(both.stdout).toContain(`${bad}: ${HCM_PATH}.codec_type: "HTTP9"`);
    expect((await run(tool, [])).code).toBe(2);
  });

  it("warns about deprecated fields without failing", async () => {
    const file = join(tmp, "deprecated.yaml");
    await writeFile(file, mutated((c) => (c.static_resources.clusters[0].dns_refresh_rate = "5s")));
    const { code, stderr } = await run(await envoyCheckTool(), [file]);
    expect(code).toBe(0);
    expect(stderr).toContain("static_resources.clusters[0].dns_refresh_rate: warning: envoy.config.cluster.v3.Cluster.dns_refresh_rate is deprecated");
  });

  it("-descriptor: needs a set with imports and source info", async () => {
    const noImports = join(tmp, "no-imports.binpb");
    const noSourceInfo = join(tmp, "no-source-info.binpb");
    for (const [out, flag] of [
      [noImports, "--exclude-imports"],
      [noSourceInfo, "--exclude-source-info"],
    ] as const) {
      const built = await run("npx", ["buf", "build", "proto", flag, "-o", out]);
      expect(built.code, built.stderr).toBe(0);
    }
    const config = JSON.stringify(goodConfig());
    expect((await validateEnvoyYaml(config, { descriptorSet: noImports })).join("\n")).toMatch(/the files do not resolve \(build it with imports included\)/);
    expect((await validateEnvoyYaml(config, { descriptorSet: noSourceInfo })).join("\n")).toMatch(
      /services\[0\]: cfs\/metadata\/v1\/metadata.proto \(which declares cfs.metadata.v1.MetadataService\) has no source info/,
    );
    expect(await validateEnvoyYaml(config, { descriptorSet: DESCRIPTOR_SET })).toEqual([]);
  }, 60_000);
});

describe("versions", () => {
  it("the chart runs the Envoy release whose API envoy-check validates against", async () => {
    const goMod = await readFile(join(REPO, "tools/envoy-check/go.mod"), "utf8");
    const api = /github\.com\/envoyproxy\/go-control-plane\/envoy (v\d+\.\d+)\.\d+/.exec(goMod)?.[1];
    const [values] = await yamlToJson<Json>(await tools(), await readFile(join(CHART, "values.yaml"), "utf8"));
    const tag: string = values.gateway.image.tag;
    expect(api, "go-control-plane/envoy in tools/envoy-check/go.mod").toBeTruthy();
    expect(tag.startsWith(`${api}.`), `gateway.image.tag ${tag} is Envoy ${api}.x`).toBe(true);
  }, TOOL_BUILD_TIMEOUT_MS);
});

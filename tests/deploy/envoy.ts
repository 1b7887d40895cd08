import { join } from "node:path";
import { REPO, run } from "./tools.js";

/**
 * Checks of the Envoy configuration the chart renders for the gateway, and of
 * gateway/envoy.yaml.
 *
 * validateEnvoyYaml is Envoy's own schema validation, offline: tools/envoy-check
 * decodes the config strictly into envoy.config.bootstrap.v3.Bootstrap
 * (go-control-plane), runs the protoc-gen-validate rules of every message,
 * inside every typed_config too, checks the references Envoy checks on load, and
 * that the transcoder's services are in the descriptor set. The chart test
 * passes it every rendered envoy.yaml, so the chart's configs pass exactly the
 * same check as gateway/envoy.yaml.
 *
 * validateEnvoyConfig checks the structure the chart depends on (listeners,
 * clusters, routes, filters).
 */

/** The descriptor set the transcoder's services are checked against (the one the chart is given). */
export const DESCRIPTOR_SET = join(REPO, "gen/descriptor-set.binpb");

let envoyCheck: Promise<string> | undefined;

/** tools/envoy-check, built once per machine by scripts/go-tool.sh (about a minute the first time). */
export function envoyCheckTool(): Promise<string> {
  envoyCheck ??= run(join(REPO, "scripts/go-tool.sh"), ["envoy-check"]).then(({ code, stdout, stderr }) => {
    if (code !== 0) throw new Error(`scripts/go-tool.sh envoy-check failed:\n${stderr}`);
    return stdout.trim();
  });
  return envoyCheck;
}

/**
 * Envoy's own validation of a config; returns the problems found, each as
 * "<path>: <message>" (empty when Envoy's schema accepts it).
 */
export async function validateEnvoyYaml(yaml: string, options: { descriptorSet?: string } = {}): Promise<string[]> {
  const tool = await envoyCheckTool();
  const { code, stdout, stderr } = await run(tool, ["-descriptor", options.descriptorSet ?? DESCRIPTOR_SET, "-"], yaml);
  const problems = stdout
    .split("\n")
    .filter((line) => line && line !== "<stdin>: ok")
    .map((line) => line.replace(/^<stdin>: /, ""));
  if (code !== 0 && problems.length === 0) problems.push(`envoy-check failed (exit ${code}): ${stderr.trim()}`);
  if (code === 0 && problems.length > 0) throw new Error(`envoy-check passed but printed: ${problems.join("; ")}`);
  return problems;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export interface EnvoyConfig {
  admin: Json;
  static_resources: {
    listeners: Array<{ name: string; address: Json; per_connection_buffer_limit_bytes?: number; filter_chains: Array<{ filters: Array<{ name: string; typed_config: Json }> }> }>;
    clusters: Array<{
      name: string;
      type: string;
      load_assignment: Json;
      per_connection_buffer_limit_bytes?: number;
      dns_refresh_rate?: string;
      typed_extension_protocol_options?: Json;
      transport_socket?: Json;
    }>;
  };
}

export interface EnvoyExpectations {
  transcoding: boolean;
  /** Origins allowed by CORS (gateway.cors.allowedOrigins); none: no CORS filter. */
  corsOrigins?: readonly string[];
  web: boolean;
  /** The WebDAV service behind /dav/. */
  webdav: boolean;
  port: number;
  metricsPort: number;
  /** The transcoder's proto_descriptor; default: the mounted ConfigMap's path. */
  descriptorPath?: string;
  blockedMethods: readonly string[];
  /** Whether host:port is a rendered Service's port. */
  upstream: (host: string, port: number) => boolean;
}

/** [cluster, gRPC path prefix] of every public service. */
const ROUTED: ReadonlyArray<[string, string]> = [
  ["chunker", "/cfs.chunker.v1.ChunkerService/"],
  ["metadata", "/cfs.metadata.v1.MetadataService/"],
  ["metadata", "/cfs.metadata.v1.AppPasswordService/"],
  ["sync", "/cfs.sync.v1.SyncService/"],
];
const TRANSCODED = ["cfs.chunker.v1.ChunkerService", "cfs.metadata.v1.MetadataService", "cfs.metadata.v1.AppPasswordService", "cfs.sync.v1.SyncService"];
const ROUTED_CLUSTERS = [...new Set(ROUTED.map(([cluster]) => cluster))];

/** Returns the problems found; empty when the config is as the chart means it. */
export function validateEnvoyConfig(config: EnvoyConfig, expect: EnvoyExpectations): string[] {
  const problems: string[] = [];
  const check = (ok: unknown, problem: string) => {
    if (!ok) problems.push(problem);
  };
  const admin = config.admin?.address?.socket_address;
  check(admin?.address === "127.0.0.1", "the admin interface listens on loopback only");

  const listeners = new Map(config.static_resources.listeners.map((l) => [l.name, l]));
  check(listeners.size === 2 && listeners.has("gateway") && listeners.has("metrics"), "listeners: gateway and metrics");
  check(listeners.get("gateway")?.address.socket_address.port_value === expect.port, "gateway listener port");
  check(listeners.get("metrics")?.address.socket_address.port_value === expect.metricsPort, "metrics listener port");

  const hcm = listeners.get("gateway")?.filter_chains[0]?.filters.find((f) => f.name === "envoy.filters.network.http_connection_manager")?.typed_config;
  check(hcm, "gateway listener has an HTTP connection manager");
  if (!hcm) return problems;
  check(hcm.normalize_path === true && hcm.merge_slashes === true, "paths are normalized before routing (no route skips JWT checks)");
  check(hcm.path_with_escaped_slashes_action === "REJECT_REQUEST", "escaped slashes are rejected");

  check(hcm.stream_idle_timeout && hcm.request_headers_timeout, "stream idle and request headers timeouts are set");
  const filters: string[] = hcm.http_filters.map((f: Json) => f.name);
  const cors = expect.corsOrigins ?? [];
  const wanted = [
    "envoy.filters.http.health_check",
    // CORS answers preflights (no token) before jwt_authn.
    ...(cors.length > 0 ? ["envoy.filters.http.cors"] : []),
    "envoy.filters.http.jwt_authn",
    ...(expect.transcoding ? ["envoy.filters.http.grpc_json_transcoder"] : []),
    "envoy.filters.http.router",
  ];
  check(JSON.stringify(filters) === JSON.stringify(wanted), `http filters in order ${wanted.join(", ")}; got ${filters.join(", ")}`);
  const jwt = hcm.http_filters.find((f: Json) => f.name === "envoy.filters.http.jwt_authn")?.typed_config;
  const provider = jwt?.providers?.cfs;
  check(provider?.issuer && provider?.audiences?.length === 1, "jwt provider sets issuer and audience (unset ones are not checked)");
  check(provider?.require_expiration === true, "jwt provider requires exp");
  check(provider?.remote_jwks?.http_uri?.cluster === "issuer", "JWKS fetched through the issuer cluster");
  const ruled = (jwt?.rules ?? []).filter((r: Json) => r.requires?.provider_name === "cfs").map((r: Json) => r.match.prefix);
  check(ruled.includes("/cfs.") && ruled.includes("/v1/"), "JWT required on every gRPC and REST path");
  check(provider?.forward === true, "jwt provider forwards the token (the services verify it again)");
  if (expect.transcoding) {
    const transcoder = hcm.http_filters.find((f: Json) => f.name === "envoy.filters.http.grpc_json_transcoder").typed_config;
    check(transcoder.proto_descriptor === (expect.descriptorPath ?? "/etc/envoy/descriptors/descriptor-set.binpb"), "transcoder reads the descriptor set");
    for (const service of TRANSCODED) check(transcoder.services?.includes(service), `transcoder serves ${service}`);
    check(transcoder.convert_grpc_status === true, "gRPC errors become HTTP statuses with a JSON body");
    check(transcoder.request_validation_options?.reject_unknown_query_parameters === true, "unknown query parameters are rejected");
    check(!transcoder.request_validation_options?.reject_unknown_method, "unknown methods pass on (gRPC and the web page are not transcoded)");
    check(transcoder.max_request_body_size > 0 && transcoder.max_response_body_size > 0, "transcoder body size limits are set");
  }
  const virtualHost = hcm.route_config.virtual_hosts[0];
  const corsPolicy = virtualHost?.typed_per_filter_config?.["envoy.filters.http.cors"];
  const allowed = (corsPolicy?.allow_origin_string_match ?? []).map((m: Json) => m.exact);
  check(JSON.stringify(allowed) === JSON.stringify(cors), `CORS allows exactly ${cors.join(", ") || "no origin"}`);
  check(Number(listeners.get("gateway")?.per_connection_buffer_limit_bytes) > 0, "the gateway listener limits its per-connection buffer");

  const routes: Json[] = hcm.route_config.virtual_hosts.flatMap((v: Json) => v.routes);
  for (const method of expect.blockedMethods) {
    const first = routes.find((r) => (r.match.path === method || (r.match.prefix && method.startsWith(r.match.prefix))));
    check(first?.direct_response?.status === 404, `${method} is answered by the gateway, never routed`);
  }
  for (const [cluster, prefix] of ROUTED) {
    const route = routes.find((r) => r.match.prefix === prefix);
    check(route?.route?.cluster === cluster, `${prefix} routes to ${cluster}`);
    check(route?.route?.timeout === "0s", `${prefix}: no per-route timeout cuts streams`);
  }
  const fallback = routes.at(-1);
  check(fallback?.match.prefix === "/", "a last route for everything else");
  check(expect.web ? fallback?.route?.cluster === "web" : fallback?.direct_response?.status === 404, "the rest goes to the web page (or 404)");
  check(!routes.some((r) => r.route?.cluster === "block-storage"), "block storage is never exposed");
  const blockStorage = "/cfs.blockstore.v1.BlockStorageService/PutChunk";
  const firstForBlockStorage = routes.find((r) => r.match.path === blockStorage || (r.match.prefix && blockStorage.startsWith(r.match.prefix)));
  check(firstForBlockStorage?.direct_response?.status === 404, "other cfs gRPC services (block storage) are answered with 404");

  const clusters = new Map(config.static_resources.clusters.map((c) => [c.name, c]));
  const names = ["chunker", "metadata", "sync", "issuer", "envoy_admin", ...(expect.web ? ["web"] : []), ...(expect.webdav ? ["webdav"] : [])].sort();
  if (expect.webdav) {
    const dav = routes.find((r) => r.match.prefix === "/dav/");
    check(dav?.route?.cluster === "webdav" && dav.route.timeout === "0s", "/dav/ routes to webdav, with no per-route timeout");
    check(hcm.use_remote_address === true, "the gateway appends the client's address to X-Forwarded-For (WebDAV's login limits count by it)");
  }
  check(JSON.stringify([...clusters.keys()].sort()) === JSON.stringify(names), `clusters ${names.join(", ")}`);
  for (const name of [...ROUTED_CLUSTERS, ...(expect.web ? ["web"] : []), ...(expect.webdav ? ["webdav"] : [])]) {
    const c = clusters.get(name);
    const address = c?.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    check(c?.type === "STRICT_DNS", `${name}: every pod of a headless Service (STRICT_DNS)`);
    check(c?.dns_refresh_rate === undefined, `${name}: no deprecated dns_refresh_rate`);
    check(address && expect.upstream(address.address, address.port_value), `${name} points at a rendered Service port (${address?.address}:${address?.port_value})`);
    check(Number(c?.per_connection_buffer_limit_bytes) > 0, `${name}: per-connection buffer limit`);
    if (name !== "web" && name !== "webdav") {
      const http2 = c?.typed_extension_protocol_options?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]?.explicit_http_config?.http2_protocol_options;
      check(http2, `${name}: gRPC upstreams speak HTTP/2`);
    }
  }
  return problems;
}

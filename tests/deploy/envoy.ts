/**
 * Checks of the Envoy configuration the chart renders for the gateway.
 *
 * validateEnvoyConfig checks the structure the chart depends on (listeners,
 * clusters, routes, filters) without Envoy.
 *
 * HOOK FOR THE GATEWAY ISSUE: the full offline validation of gateway/ (Envoy's
 * own config validation) belongs to that issue. When it exists, call it from
 * validateEnvoyYaml below: the chart test passes it every rendered envoy.yaml,
 * so the chart's config then passes exactly the same check as gateway/envoy.yaml.
 */

/** Envoy's own validation of a rendered config; returns the problems found. */
export async function validateEnvoyYaml(_yaml: string): Promise<string[]> {
  return []; // the gateway issue's validator goes here
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

export interface EnvoyConfig {
  admin: Json;
  static_resources: {
    listeners: Array<{ name: string; address: Json; filter_chains: Array<{ filters: Array<{ name: string; typed_config: Json }> }> }>;
    clusters: Array<{ name: string; type: string; load_assignment: Json; typed_extension_protocol_options?: Json; transport_socket?: Json }>;
  };
}

export interface EnvoyExpectations {
  transcoding: boolean;
  web: boolean;
  port: number;
  metricsPort: number;
  blockedMethods: readonly string[];
  /** Whether host:port is a rendered Service's port. */
  upstream: (host: string, port: number) => boolean;
}

const ROUTED = { chunker: "/cfs.chunker.v1.ChunkerService/", metadata: "/cfs.metadata.v1.MetadataService/", sync: "/cfs.sync.v1.SyncService/" };

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

  const filters: string[] = hcm.http_filters.map((f: Json) => f.name);
  const wanted = [
    "envoy.filters.http.health_check",
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
  if (expect.transcoding) {
    const transcoder = hcm.http_filters.find((f: Json) => f.name === "envoy.filters.http.grpc_json_transcoder").typed_config;
    check(transcoder.proto_descriptor === "/etc/envoy/descriptors/descriptor-set.binpb", "transcoder reads the mounted descriptor set");
    check(transcoder.services?.length > 0, "transcoder lists its services");
  }

  const routes: Json[] = hcm.route_config.virtual_hosts.flatMap((v: Json) => v.routes);
  for (const method of expect.blockedMethods) {
    const first = routes.find((r) => (r.match.path === method || (r.match.prefix && method.startsWith(r.match.prefix))));
    check(first?.direct_response?.status === 404, `${method} is answered by the gateway, never routed`);
  }
  for (const [cluster, prefix] of Object.entries(ROUTED)) {
    const route = routes.find((r) => r.match.prefix === prefix);
    check(route?.route?.cluster === cluster, `${prefix} routes to ${cluster}`);
    check(route?.route?.timeout === "0s", `${prefix}: no per-route timeout cuts streams`);
  }
  const fallback = routes.at(-1);
  check(fallback?.match.prefix === "/", "a last route for everything else");
  check(expect.web ? fallback?.route?.cluster === "web" : fallback?.direct_response?.status === 404, "the rest goes to the web page (or 404)");
  check(!routes.some((r) => r.route?.cluster === "block-storage"), "block storage is never exposed");

  const clusters = new Map(config.static_resources.clusters.map((c) => [c.name, c]));
  const names = ["chunker", "metadata", "sync", "issuer", "envoy_admin", ...(expect.web ? ["web"] : [])].sort();
  check(JSON.stringify([...clusters.keys()].sort()) === JSON.stringify(names), `clusters ${names.join(", ")}`);
  for (const name of [...Object.keys(ROUTED), ...(expect.web ? ["web"] : [])]) {
    const c = clusters.get(name);
    const address = c?.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    check(c?.type === "STRICT_DNS", `${name}: every pod of a headless Service (STRICT_DNS)`);
    check(address && expect.upstream(address.address, address.port_value), `${name} points at a rendered Service port (${address?.address}:${address?.port_value})`);
    if (name !== "web") {
      const http2 = c?.typed_extension_protocol_options?.["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]?.explicit_http_config?.http2_protocol_options;
      check(http2, `${name}: gRPC upstreams speak HTTP/2`);
    }
  }
  return problems;
}

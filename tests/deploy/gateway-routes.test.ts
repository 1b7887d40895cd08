import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fromBinary, type DescMethod } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { beforeAll, describe, expect, it } from "vitest";
import { HTTP_BODY, loadHttpRoutes, loadRegistry } from "../../gateway/edge/routes.js";
import type { EnvoyConfig } from "./envoy.js";
import { REPO, template, TOOL_BUILD_TIMEOUT_MS, tools, yamlToJson, type Tools } from "./tools.js";

/**
 * The gateway's routes against the API's own description: the google.api.http
 * annotations and the "Internal" comments in the descriptor set. For
 * gateway/envoy.yaml and the chart's config, evaluated the way Envoy does
 * (first matching route, first matching jwt_authn rule):
 * - every annotated method's service is transcoded, and its gRPC path
 *   (which transcoded REST calls are routed by) reaches its service's cluster;
 * - JWT is required on its REST path and its gRPC path;
 * - every internal method is answered by the gateway with 404, never routed,
 *   and has no REST route;
 * - /healthz is answered before any JWT check;
 * - a transcoded call (the transcoder adds x-envoy-original-path) reaches the
 *   same cluster; a raw download's (stream google.api.HttpBody) gets its
 *   Content-Length from the chunker's x-cfs-content-length, a plain gRPC call
 *   never does (its body is framed);
 * - a REST HEAD is transcoded with a config that does not turn errors into
 *   JSON bodies, which a HEAD response must not carry.
 * The checks are shown to fail on configs with a route or a rule removed.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

interface Method {
  service: string;
  name: string;
  grpcPath: string;
  /** REST [verb, sample path] of each binding; empty when not annotated. */
  rest: Array<[string, string]>;
  internal: boolean;
  /** A server stream of google.api.HttpBody: raw bytes with a length the gateway must announce. */
  rawDownload: boolean;
}

const SAMPLE = "0b7e4a52-2c1f-4e8a-9d3b-5f6a7c8d9e0f";

async function apiMethods(): Promise<Method[]> {
  const bytes = await readFile(join(REPO, "gen/descriptor-set.binpb"));
  const set = fromBinary(FileDescriptorSetSchema, bytes);
  if (!set.file.some((f) => f.sourceCodeInfo?.location.length)) throw new Error("the descriptor set has no source info");
  const registry = loadRegistry(bytes);
  const cfsFiles = set.file.filter((f) => f.package.startsWith("cfs."));
  // The REST bindings as the edge reads them from the annotations.
  const routes = loadHttpRoutes(registry, cfsFiles.flatMap((f) => f.service.map((s) => `${f.package}.${s.name}`)));
  const methods: Method[] = [];
  for (const file of cfsFiles) {
    file.service.forEach((serviceProto, s) => {
      const service = registry.getService(`${file.package}.${serviceProto.name}`)!;
      service.methods.forEach((method: DescMethod, m) => {
        // Source info: the leading comment of method m of service s (field 6, then field 2).
        const location = file.sourceCodeInfo?.location.find((l) => l.path.join(".") === `6.${s}.2.${m}`);
        methods.push({
          service: service.typeName,
          name: method.name,
          grpcPath: `/${service.typeName}/${method.name}`,
          rest: routes.filter((r) => r.method === method).map((r) => [r.httpMethod, r.template.replace(/\{[^}]+\}/g, SAMPLE)]),
          internal: (location?.leadingComments ?? "").trim().startsWith("Internal"),
          rawDownload: method.methodKind === "server_streaming" && method.output.typeName === HTTP_BODY,
        });
      });
    });
  }
  return methods;
}

/** The cluster that serves a cfs service: cfs.<component>.v1.XService -> <component>. */
const clusterOf = (service: string) => service.split(".")[1]!;

/** A route's or rule's match, as Envoy evaluates it, for a request of this path and these headers (lower-case names). */
function matches(match: Json, path: string, headers: Readonly<Record<string, string>> = {}): boolean {
  const headersHold = (match.headers ?? []).every((h: Json) => {
    const value = headers[h.name];
    if (h.present_match !== undefined) return (value !== undefined) === h.present_match;
    if (h.string_match?.exact !== undefined) return value === h.string_match.exact;
    throw new Error(`header matcher ${JSON.stringify(h)} is not evaluated by this test`);
  });
  if (!headersHold) return false;
  if (match.path !== undefined) return match.path === path;
  if (match.prefix !== undefined) return path.startsWith(match.prefix);
  if (match.safe_regex !== undefined) return new RegExp(`^(?:${match.safe_regex.regex})$`).test(path);
  return false;
}

/** The headers of a REST request once the transcoder has rewritten it into a gRPC call. */
const transcoded = (verb: string, restPath: string) => ({ ":method": "POST", "x-envoy-original-path": restPath, "x-envoy-original-method": verb });

/** Whether a route's response headers announce the chunker's length as Content-Length (without overriding one the transcoder set). */
function announcesLength(route: Json): boolean {
  return (route?.response_headers_to_add ?? []).some(
    (h: Json) => h.header?.key === "content-length" && h.header.value === "%RESP(x-cfs-content-length)%" && h.append_action === "ADD_IF_ABSENT",
  );
}

/** Problems of a config's routes and JWT rules against the API; empty when it serves the API as meant. */
export function routeProblems(config: EnvoyConfig, methods: readonly Method[]): string[] {
  const problems: string[] = [];
  const gateway = config.static_resources.listeners.find((l) => l.name === "gateway");
  const hcm = gateway?.filter_chains[0]?.filters.find((f) => f.name === "envoy.filters.network.http_connection_manager")?.typed_config;
  if (!hcm) return ["no HTTP connection manager on the gateway listener"];
  const filters: Json[] = hcm.http_filters;
  const filterIndex = (name: string) => filters.findIndex((f) => f.name === name);
  const transcoder = filters.find((f) => f.name === "envoy.filters.http.grpc_json_transcoder")?.typed_config;
  const jwt = filters.find((f) => f.name === "envoy.filters.http.jwt_authn")?.typed_config;
  const routes: Json[] = hcm.route_config.virtual_hosts.flatMap((v: Json) => v.routes);
  const firstRoute = (path: string, headers: Record<string, string> = { ":method": "POST" }) => routes.find((r) => matches(r.match, path, headers));
  const requiresJwt = (path: string) => {
    const rule = (jwt?.rules ?? []).find((r: Json) => matches(r.match, path));
    return rule?.requires?.provider_name === "cfs";
  };

  for (const m of methods) {
    const route = firstRoute(m.grpcPath);
    if (m.internal) {
      if (route?.direct_response?.status !== 404 || route.route) problems.push(`${m.grpcPath} (internal) is answered with 404, never routed`);
      if (m.rest.length > 0) problems.push(`${m.grpcPath} (internal) has no REST route`);
      continue;
    }
    if (m.rest.length === 0) continue;
    if (!transcoder?.services?.includes(m.service)) problems.push(`${m.service} is transcoded (${m.name} is annotated)`);
    if (route?.route?.cluster !== clusterOf(m.service)) {
      problems.push(`${m.grpcPath} routes to ${clusterOf(m.service)}, not ${route?.route?.cluster ?? JSON.stringify(route?.direct_response ?? "nothing")}`);
    }
    if (!requiresJwt(m.grpcPath)) problems.push(`${m.grpcPath} requires a JWT`);
    if (announcesLength(route)) problems.push(`${m.grpcPath} called over gRPC gets no Content-Length (its body is framed)`);
    for (const [verb, path] of m.rest) {
      if (!requiresJwt(path)) problems.push(`${verb} ${path} (${m.name}) requires a JWT`);
      const after = firstRoute(m.grpcPath, transcoded(verb, path));
      if (after?.route?.cluster !== clusterOf(m.service)) problems.push(`${verb} ${path} transcoded routes to ${clusterOf(m.service)}, not ${after?.route?.cluster ?? "nothing"}`);
      if (m.rawDownload && !announcesLength(after)) problems.push(`${verb} ${path} transcoded carries Content-Length from x-cfs-content-length`);
      if (verb === "HEAD") {
        // The transcoder takes its config from the route the REST request matches, before it rewrites the path.
        const before = firstRoute(path, { ":method": "HEAD" });
        const own = before?.typed_per_filter_config?.["envoy.filters.http.grpc_json_transcoder"];
        const { convert_grpc_status: _ignored, ...rest } = own ?? {};
        const { convert_grpc_status: _also, ...filterRest } = transcoder ?? {};
        if (!own || own.convert_grpc_status !== false) problems.push(`HEAD ${path} is transcoded without convert_grpc_status (no JSON error body after a HEAD's headers)`);
        else if (JSON.stringify(rest) !== JSON.stringify(filterRest)) problems.push(`HEAD ${path}: the route's transcoder config is the filter's but for convert_grpc_status`);
      }
    }
  }

  const health = filters[filterIndex("envoy.filters.http.health_check")]?.typed_config;
  const healthAnswered =
    health?.pass_through_mode === false && health.headers?.some((h: Json) => h.name === ":path" && h.string_match?.exact === "/healthz");
  const healthFirst = filterIndex("envoy.filters.http.health_check") >= 0 && filterIndex("envoy.filters.http.health_check") < filterIndex("envoy.filters.http.jwt_authn");
  if (!healthAnswered || !healthFirst) problems.push("/healthz is answered by the health check filter before jwt_authn (no JWT needed)");
  return problems;
}

let t: Tools;
let methods: Method[];
const configs = new Map<string, EnvoyConfig>();

beforeAll(async () => {
  t = await tools();
  methods = await apiMethods();
  configs.set("gateway/envoy.yaml", (await yamlToJson<EnvoyConfig>(t, await readFile(join(REPO, "gateway/envoy.yaml"), "utf8")))[0]!);
  const rendered = await template(t, [], ["--set-file", `gateway.descriptorSet.file=${join(REPO, "gen/descriptor-set.binpb")}`, "--show-only", "templates/gateway/configmap.yaml"]);
  if (rendered.code !== 0) throw new Error(rendered.stderr);
  const [cm] = await yamlToJson<Json>(t, rendered.stdout);
  configs.set("the chart's config", (await yamlToJson<EnvoyConfig>(t, cm.data["envoy.yaml"]))[0]!);
}, TOOL_BUILD_TIMEOUT_MS);

describe("the API as the descriptor set describes it", () => {
  it("has annotated methods in every public service and internal methods, read from source info", () => {
    const annotated = methods.filter((m) => m.rest.length > 0);
    expect(new Set(annotated.map((m) => m.service))).toEqual(new Set(["cfs.chunker.v1.ChunkerService", "cfs.metadata.v1.MetadataService", "cfs.metadata.v1.AppPasswordService", "cfs.sync.v1.SyncService"]));
    expect(annotated.length).toBeGreaterThanOrEqual(11);
    expect(methods.filter((m) => m.internal).map((m) => m.grpcPath)).toEqual(
      expect.arrayContaining(["/cfs.metadata.v1.MetadataService/CommitFileVersion", "/cfs.sync.v1.SyncService/RecordEvents"]),
    );
    expect(methods.find((m) => m.name === "DownloadFileContent")?.rest).toEqual([
      ["GET", `/v1/files/${SAMPLE}/content`],
      ["HEAD", `/v1/files/${SAMPLE}/content`],
    ]);
  });
});

describe.each(["gateway/envoy.yaml", "the chart's config"])("routes of %s", (label) => {
  it("route every annotated method to its service with a JWT on its REST and gRPC paths, block internal methods, and leave /healthz open", () => {
    expect(routeProblems(configs.get(label)!, methods)).toEqual([]);
  });

  const mutations: Array<[string, (c: Json) => void, RegExp]> = [
    [
      "the sync route removed",
      (c) => {
        const vh = hcmOf(c).route_config.virtual_hosts[0];
        vh.routes = vh.routes.filter((r: Json) => r.match.prefix !== "/cfs.sync.v1.SyncService/");
      },
      /\/cfs\.sync\.v1\.SyncService\/ListSyncEvents routes to sync, not .*status.*404/,
    ],
    ["the JWT rule for REST paths removed", (c) => (jwtOf(c).rules = jwtOf(c).rules.filter((r: Json) => r.match.prefix !== "/v1/")), /GET \/v1\/files \(ListFiles\) requires a JWT/],
    ["the JWT rule for gRPC paths removed", (c) => (jwtOf(c).rules = jwtOf(c).rules.filter((r: Json) => r.match.prefix !== "/cfs.")), /\/cfs\.chunker\.v1\.ChunkerService\/UploadFileContent requires a JWT/],
    [
      "an internal method's 404 removed",
      (c) => {
        const vh = hcmOf(c).route_config.virtual_hosts[0];
        vh.routes = vh.routes.filter((r: Json) => r.match.path !== "/cfs.metadata.v1.MetadataService/CommitFileVersion");
      },
      /CommitFileVersion \(internal\) is answered with 404, never routed/,
    ],
    ["the chunker not transcoded", (c) => (transcoderOf(c).services = transcoderOf(c).services.filter((s: string) => !s.includes("chunker"))), /cfs\.chunker\.v1\.ChunkerService is transcoded/],
    ["the health check after jwt_authn", (c) => hcmOf(c).http_filters.reverse(), /\/healthz is answered by the health check filter before jwt_authn/],
    [
      "a route sending chunker calls to metadata",
      (c) => (hcmOf(c).route_config.virtual_hosts[0].routes.find((r: Json) => r.match.prefix === "/cfs.chunker.v1.ChunkerService/").route.cluster = "metadata"),
      /\/cfs\.chunker\.v1\.ChunkerService\/DownloadFileContent routes to chunker, not metadata/,
    ],
    [
      "transcoded downloads sent to metadata",
      (c) => (hcmOf(c).route_config.virtual_hosts[0].routes.find((r: Json) => r.match.headers?.some((h: Json) => h.name === "x-envoy-original-path")).route.cluster = "metadata"),
      /GET \/v1\/files\/.*\/content transcoded routes to chunker, not metadata/,
    ],
    [
      "the download's Content-Length mapping removed",
      (c) => delete hcmOf(c).route_config.virtual_hosts[0].routes.find((r: Json) => r.response_headers_to_add?.some((h: Json) => h.header.key === "content-length")).response_headers_to_add,
      /GET \/v1\/files\/.*\/content transcoded carries Content-Length from x-cfs-content-length/,
    ],
    [
      "the Content-Length mapping on every chunker call",
      (c) => {
        const vh = hcmOf(c).route_config.virtual_hosts[0];
        const mapped = vh.routes.find((r: Json) => r.response_headers_to_add?.some((h: Json) => h.header.key === "content-length"));
        vh.routes.find((r: Json) => r.match.prefix === "/cfs.chunker.v1.ChunkerService/").response_headers_to_add = mapped.response_headers_to_add;
        vh.routes = vh.routes.filter((r: Json) => r !== mapped);
      },
      /\/cfs\.chunker\.v1\.ChunkerService\/DownloadFileContent called over gRPC gets no Content-Length/,
    ],
    [
      "HEAD transcoded with convert_grpc_status",
      (c) => {
        const head = hcmOf(c).route_config.virtual_hosts[0].routes.find((r: Json) => r.match.headers?.some((h: Json) => h.name === ":method"));
        head.typed_per_filter_config["envoy.filters.http.grpc_json_transcoder"].convert_grpc_status = true;
      },
      /HEAD \/v1\/files\/.*\/content is transcoded without convert_grpc_status/,
    ],
    [
      "HEAD's transcoder config drifted from the filter's",
      (c) => {
        const head = hcmOf(c).route_config.virtual_hosts[0].routes.find((r: Json) => r.match.headers?.some((h: Json) => h.name === ":method"));
        head.typed_per_filter_config["envoy.filters.http.grpc_json_transcoder"].services = ["cfs.chunker.v1.ChunkerService"];
      },
      /the route's transcoder config is the filter's but for convert_grpc_status/,
    ],
  ];
  it.each(mutations)("fails with %s", (_what, change, problem) => {
    const config = structuredClone(configs.get(label)!);
    change(config);
    const problems = routeProblems(config, methods);
    expect(problems.some((p) => problem.test(p)), problems.join("\n")).toBe(true);
  });
});

function hcmOf(c: Json): Json {
  return c.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}
function jwtOf(c: Json): Json {
  return hcmOf(c).http_filters.find((f: Json) => f.name === "envoy.filters.http.jwt_authn").typed_config;
}
function transcoderOf(c: Json): Json {
  return hcmOf(c).http_filters.find((f: Json) => f.name === "envoy.filters.http.grpc_json_transcoder").typed_config;
}

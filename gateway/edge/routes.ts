import { createFileRegistry, fromBinary, getExtension, hasExtension, toJson, type DescField, type DescMessage, type DescMethod, type Registry } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/**
 * The REST route table, read at start-up from the `google.api.http`
 * annotations in the descriptor set, the same source Envoy's transcoder
 * uses. Nothing here is written by hand per route.
 */
export interface HttpRoute {
  httpMethod: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** The annotated template, e.g. /v1/files/{file_id}/content. */
  template: string;
  segments: ReadonlyArray<{ literal: string } | { field: string }>;
  /** "" (no body), "*" (the whole request message) or one field's name. */
  body: string;
  /** The field `body` names when it is a google.api.HttpBody: the request body is raw bytes. */
  rawBodyField: DescField | undefined;
  method: DescMethod;
  /** `/package.Service/Method`, the gRPC path. */
  grpcPath: string;
}

export const HTTP_BODY = "google.api.HttpBody";

/** The services whose annotated methods are public REST routes (the OpenAPI document covers these). */
export const REST_SERVICES: readonly string[] = [
  "cfs.chunker.v1.ChunkerService",
  "cfs.metadata.v1.MetadataService",
  "cfs.metadata.v1.AppPasswordService",
  "cfs.sync.v1.SyncService",
];

interface HttpRuleJson {
  get?: string;
  put?: string;
  post?: string;
  delete?: string;
  patch?: string;
  custom?: { kind?: string; path?: string };
  body?: string;
  responseBody?: string;
  additionalBindings?: HttpRuleJson[];
}

export function loadRegistry(descriptorSet: Uint8Array): Registry {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet));
}

/**
 * Routes of every annotated method of the named services. Annotation
 * features the edge does not implement fail here, at start-up, instead of
 * serving a route differently from Envoy.
 */
export function loadHttpRoutes(registry: Registry, serviceNames: readonly string[]): HttpRoute[] {
  const httpExtension = registry.getExtension("google.api.http");
  const ruleSchema = registry.getMessage("google.api.HttpRule");
  if (!httpExtension || !ruleSchema) throw new Error("the descriptor set lacks google/api/annotations.proto");
  const routes: HttpRoute[] = [];
  for (const serviceName of serviceNames) {
    const service = registry.getService(serviceName);
    if (!service) throw new Error(`service ${serviceName} is not in the descriptor set`);
    for (const method of service.methods) {
      const options = method.proto.options;
      if (!options || !hasExtension(options, httpExtension)) continue;
      const rule = toJson(ruleSchema, getExtension(options, httpExtension) as never) as HttpRuleJson;
      for (const binding of [rule, ...(rule.additionalBindings ?? [])]) routes.push(toRoute(binding, method));
    }
  }
  // A literal segment wins over a variable in the same place.
  return routes.sort((a, b) => variableCount(a) - variableCount(b));
}

function toRoute(rule: HttpRuleJson, method: DescMethod): HttpRoute {
  const where = `${method.parent.typeName}.${method.name}`;
  const [verb, template] = verbOf(rule, where);
  if (rule.responseBody) throw new Error(`${where}: response_body is not supported by the edge`);
  const segments = template
    .split("/")
    .slice(1)
    .map((segment) => {
      const variable = /^\{([a-z_][a-z0-9_]*)(?:=\*)?\}$/.exec(segment);
      if (variable) return { field: requireField(method.input, variable[1]!, where).name };
      if (!/^[A-Za-z0-9._~-]+$/.test(segment)) throw new Error(`${where}: path segment "${segment}" is not supported by the edge`);
      return { literal: segment };
    });
  const body = rule.body ?? "";
  const bodyField = body && body !== "*" ? requireField(method.input, body, where) : undefined;
  const rawBodyField = bodyField?.message?.typeName === HTTP_BODY ? bodyField : undefined;
  return { httpMethod: verb, template, segments, body, rawBodyField, method, grpcPath: `/${method.parent.typeName}/${method.name}` };
}

/**
 * The binding's HTTP method and path template. Of the custom kinds only HEAD:
 * a HEAD binding is a method answered like its GET without the body (the
 * services leave the bytes out when told the call is a HEAD).
 */
function verbOf(rule: HttpRuleJson, where: string): [HttpRoute["httpMethod"], string] {
  const verbs = (["get", "put", "post", "delete", "patch"] as const).filter((v) => rule[v] !== undefined);
  if (rule.custom !== undefined) {
    if (verbs.length > 0 || rule.custom.kind !== "HEAD" || !rule.custom.path) throw new Error(`${where}: of the custom bindings only {kind: "HEAD", path} is supported`);
    return ["HEAD", rule.custom.path];
  }
  if (verbs.length !== 1) throw new Error(`${where}: exactly one of get/put/post/delete/patch (or a custom HEAD) is supported`);
  return [verbs[0]!.toUpperCase() as HttpRoute["httpMethod"], rule[verbs[0]!]!];
}

function requireField(message: DescMessage, protoName: string, where: string) {
  const field = message.fields.find((f) => f.name === protoName);
  if (!field) throw new Error(`${where}: ${message.typeName} has no field ${protoName}`);
  return field;
}

function variableCount(route: HttpRoute): number {
  return route.segments.filter((s) => "field" in s).length;
}

/** The route and path variables for a request, or why none fits. */
export function matchRoute(
  routes: readonly HttpRoute[],
  httpMethod: string,
  path: string,
): { route: HttpRoute; variables: Record<string, string> } | { allowed: string[] } {
  const parts = path.split("/").slice(1);
  const allowed: string[] = [];
  for (const route of routes) {
    const variables = matchSegments(route, parts);
    if (!variables) continue;
    if (route.httpMethod === httpMethod) return { route, variables };
    allowed.push(route.httpMethod);
  }
  return { allowed };
}

function matchSegments(route: HttpRoute, parts: readonly string[]): Record<string, string> | undefined {
  if (parts.length !== route.segments.length) return undefined;
  const variables: Record<string, string> = {};
  for (const [i, segment] of route.segments.entries()) {
    const part = parts[i]!;
    if ("literal" in segment) {
      if (segment.literal !== part) return undefined;
    } else {
      if (part === "") return undefined;
      try {
        variables[segment.field] = decodeURIComponent(part);
      } catch {
        return undefined;
      }
    }
  }
  return variables;
}

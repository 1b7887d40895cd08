import { ScalarType, type DescEnum, type DescField, type DescMessage, type DescMethod, type JsonObject, type JsonValue, type Registry } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";
import { HTTP_BODY, loadHttpRoutes, type HttpRoute } from "../edge/routes.js";

/**
 * The OpenAPI 3 document of the REST routes, built from the same
 * `google.api.http` annotations the edge and Envoy serve (through the edge's
 * own route reader), in the shapes both gateways actually produce:
 *
 * - bodies in the proto3 JSON mapping: lowerCamelCase names, 64-bit integers
 *   as strings, enums by name, Timestamps in RFC 3339; every implicit-presence
 *   field is always present in responses (the edge's alwaysEmitImplicit,
 *   Envoy's always_print_primitive_fields);
 * - a google.api.HttpBody request field or response is raw bytes, not JSON;
 * - a server-streamed JSON response is one JSON array of the messages;
 * - query parameters name top-level fields (JSON names shown; proto names are
 *   accepted too), anything else is a 400;
 * - errors are google.rpc.Status JSON ({code, message, details}).
 *
 * Generic generators (gnostic's protoc-gen-openapi, grpc-gateway's
 * protoc-gen-openapiv2) document a server stream as a single message and know
 * nothing of how these gateways frame one, so the document is built here.
 */
export interface OpenApiOptions {
  title: string;
  version: string;
  description: string;
}

const STATUS_SCHEMA = "google.rpc.Status";
/** Path variables are resource ids, UUIDs by the API's convention (docs/conventions.md). */
const UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
/** Rules the proto types cannot state, by field name, as the services enforce them (their proto comments say so). */
const FIELD_RULES: Readonly<Record<string, JsonObject>> = {
  page_size: { minimum: 0 },
};
const TIMESTAMP = "google.protobuf.Timestamp";

export function openApiDocument(registry: Registry, serviceNames: readonly string[], options: OpenApiOptions): JsonObject {
  const routes = loadHttpRoutes(registry, serviceNames);
  const schemas = new SchemaSet();
  const paths: Record<string, Record<string, JsonValue>> = {};
  for (const route of routes) {
    const path = openApiPath(route);
    paths[path] ??= {};
    paths[path][route.httpMethod.toLowerCase()] = operation(route, schemas);
  }
  return {
    openapi: "3.0.3",
    info: { title: options.title, version: options.version, description: options.description },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      schemas: {
        [STATUS_SCHEMA]: {
          type: "object",
          description: "An error: a gRPC status code and a message for people.",
          properties: { code: { type: "integer", format: "int32" }, message: { type: "string" }, details: { type: "array", items: {} } },
          required: ["code", "message"],
        },
        ...schemas.sorted(),
      },
    },
  };
}

/** /v1/files/{file_id} → /v1/files/{fileId}: parameters go by their JSON names. */
function openApiPath(route: HttpRoute): string {
  return "/" + route.segments.map((s) => ("literal" in s ? s.literal : `{${fieldByName(route.method.input, s.field).jsonName}}`)).join("/");
}

function fieldByName(message: DescMessage, name: string): DescField {
  return message.fields.find((f) => f.name === name)!;
}

function operation(route: HttpRoute, schemas: SchemaSet): JsonObject {
  const { method } = route;
  const pathFields = new Set(route.segments.flatMap((s) => ("field" in s ? [s.field] : [])));
  const bodyFields = new Set(route.body === "*" ? method.input.fields.map((f) => f.name) : route.body ? [route.body] : []);
  const parameters: JsonValue[] = [];
  for (const field of method.input.fields) {
    if (pathFields.has(field.name)) {
      const isId = field.name === "id" || field.name.endsWith("_id");
      const schema = { ...schemas.fieldSchema(field), ...(isId ? { pattern: UUID_PATTERN } : {}) };
      parameters.push({ name: field.jsonName, in: "path", required: true, schema });
    } else if (!bodyFields.has(field.name) && isQueryable(field)) {
      parameters.push({ name: field.jsonName, in: "query", required: false, schema: { ...schemas.fieldSchema(field), ...FIELD_RULES[field.name] } });
    }
  }
  const op: JsonObject = {
    // A HEAD binding shares its method with the GET: the ids must still differ.
    operationId: `${method.parent.name}_${method.name}${route.httpMethod === "HEAD" ? "_Head" : ""}`,
    summary: `${method.parent.typeName}.${method.name}`,
    tags: [method.parent.name],
  };
  const description = methodComment(method);
  if (description) op.description = description;
  if (parameters.length > 0) op.parameters = parameters;
  const requestBody = requestBodyOf(route, pathFields, schemas);
  if (requestBody) op.requestBody = requestBody;
  op.responses = {
    "200": route.httpMethod === "HEAD" ? { description: "The headers the GET answers with (Content-Type, Content-Length, Content-Disposition), no body." } : successResponse(method, schemas),
    "400": errorResponse("Bad input: a malformed field, an unknown query parameter, a bad range."),
    "401": errorResponse("No valid bearer token."),
    default: errorResponse("Any other error, as google.rpc.Status JSON with the HTTP status of its gRPC code."),
  };
  return op;
}

/** Query strings carry top-level scalars, enums and lists of them. */
function isQueryable(field: DescField): boolean {
  if (field.fieldKind === "scalar" || field.fieldKind === "enum") return true;
  return field.fieldKind === "list" && field.listKind !== "message";
}

function requestBodyOf(route: HttpRoute, pathFields: ReadonlySet<string>, schemas: SchemaSet): JsonObject | undefined {
  if (route.body === "") return undefined;
  if (route.rawBodyField) {
    return {
      required: true,
      description: "The raw bytes; the request's Content-Type becomes the file's content type.",
      content: { "*/*": { schema: { type: "string", format: "binary" } } },
    };
  }
  if (route.body === "*") {
    const remaining = route.method.input.fields.filter((f) => !pathFields.has(f.name));
    return { required: true, content: { "application/json": { schema: schemas.objectOf(route.method.input, remaining, false) } } };
  }
  const field = fieldByName(route.method.input, route.body);
  return { required: true, content: { "application/json": { schema: schemas.fieldSchema(field) } } };
}

function successResponse(method: DescMethod, schemas: SchemaSet): JsonObject {
  if (method.output.typeName === HTTP_BODY) {
    // No schema: the bytes are the file's, in whatever content type it was
    // stored with (a validator must not try to parse them as that type).
    return { description: "The raw bytes, with the stored content type.", content: { "*/*": {} } };
  }
  const one = schemas.responseRef(method.output);
  if (method.methodKind === "server_streaming") {
    return {
      description: "A JSON array of the streamed messages, written as they happen.",
      content: { "application/json": { schema: { type: "array", items: one } } },
    };
  }
  return { description: "OK", content: { "application/json": { schema: one } } };
}

function errorResponse(description: string): JsonObject {
  return { description, content: { "application/json": { schema: { $ref: `#/components/schemas/${STATUS_SCHEMA}` } } } };
}

/** The leading comment of a method in its proto file, when the descriptor set kept source info. */
function methodComment(method: DescMethod): string | undefined {
  const file = method.parent.file;
  const serviceIndex = file.services.indexOf(method.parent);
  const methodIndex = method.parent.methods.indexOf(method);
  const location = file.proto.sourceCodeInfo?.location.find(
    (l) => l.path.length === 4 && l.path[0] === 6 && l.path[1] === serviceIndex && l.path[2] === 2 && l.path[3] === methodIndex,
  );
  const text = location?.leadingComments
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => !line.startsWith("buf:lint:"))
    .join(" ")
    .trim();
  return text || undefined;
}

/**
 * Component schemas, one per message, each in two forms: as a response
 * (implicit-presence fields always present: `required`) and as a request
 * (every field optional).
 */
class SchemaSet {
  private readonly schemas = new Map<string, JsonObject>();

  sorted(): JsonObject {
    return Object.fromEntries([...this.schemas.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  responseRef(message: DescMessage): JsonObject {
    return this.messageRef(message, true);
  }

  fieldSchema(field: DescField, response = false): JsonObject {
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar);
      case "enum":
        return enumSchema(field.enum);
      case "message":
        return this.messageRef(field.message, response);
      case "list": {
        const items =
          field.listKind === "scalar" ? scalarSchema(field.scalar) : field.listKind === "enum" ? enumSchema(field.enum) : this.messageRef(field.message, response);
        return { type: "array", items };
      }
      case "map": {
        const values =
          field.mapKind === "scalar" ? scalarSchema(field.scalar) : field.mapKind === "enum" ? enumSchema(field.enum) : this.messageRef(field.message, response);
        return { type: "object", additionalProperties: values };
      }
    }
  }

  objectOf(message: DescMessage, fields: readonly DescField[], response: boolean): JsonObject {
    const properties = Object.fromEntries(fields.map((f) => [f.jsonName, this.fieldSchema(f, response)]));
    const required = response ? fields.filter(alwaysPresent).map((f) => f.jsonName) : [];
    return { type: "object", ...(required.length > 0 ? { required } : {}), properties, description: message.typeName };
  }

  private messageRef(message: DescMessage, response: boolean): JsonObject {
    if (message.typeName === TIMESTAMP) return { type: "string", format: "date-time" };
    if (message.typeName === HTTP_BODY) return { type: "string", format: "binary" };
    const name = response ? message.typeName : `${message.typeName}.Input`;
    if (!this.schemas.has(name)) {
      this.schemas.set(name, {}); // recursion guard
      this.schemas.set(name, this.objectOf(message, message.fields, response));
    }
    return { $ref: `#/components/schemas/${name}` };
  }
}

/**
 * Implicit-presence fields outside a oneof are always written (as their zero
 * value); proto3 `optional`, oneof members and messages appear only when set.
 */
function alwaysPresent(field: DescField): boolean {
  if (field.oneof !== undefined) return false;
  if (field.fieldKind === "list" || field.fieldKind === "map") return true;
  if (field.fieldKind === "message") return false;
  return field.presence === FeatureSet_FieldPresence.IMPLICIT;
}

function scalarSchema(scalar: ScalarType): JsonObject {
  switch (scalar) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BYTES:
      return { type: "string", format: "byte" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return { type: "integer", format: "int32" };
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return { type: "integer", format: "int64", minimum: 0, maximum: 4294967295 };
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      // 64-bit integers travel as decimal strings in the proto3 JSON mapping.
      return { type: "string", format: "int64", pattern: "^-?[0-9]+$" };
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return { type: "string", format: "uint64", pattern: "^[0-9]+$" };
    case ScalarType.FLOAT:
    case ScalarType.DOUBLE:
      return { type: "number" };
  }
}

function enumSchema(desc: DescEnum): JsonObject {
  return { type: "string", enum: desc.values.map((v) => v.name) };
}

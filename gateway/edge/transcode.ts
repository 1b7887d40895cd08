import { status as GrpcStatus } from "@grpc/grpc-js";
import { fromJson, ScalarType, type DescField, type DescMessage, type JsonObject, type JsonValue, type MessageShape } from "@bufbuild/protobuf";

/** An error answered with an HTTP status and a google.rpc.Status JSON body, as Envoy's transcoder does. */
export class HttpError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly grpcCode: GrpcStatus,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new HttpError(400, GrpcStatus.INVALID_ARGUMENT, message);

/** The gRPC → HTTP status mapping of Envoy's convert_grpc_status (and google.rpc.Code's documentation). */
const HTTP_STATUS_OF: Readonly<Record<number, number>> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 499,
  [GrpcStatus.UNKNOWN]: 500,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 400,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.INTERNAL]: 500,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DATA_LOSS]: 500,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

export function httpStatusOf(code: number): number {
  return HTTP_STATUS_OF[code] ?? 500;
}

/**
 * The request message from path variables, query parameters and (for
 * body "*" or a non-HttpBody body field) a JSON body. Query parameters name
 * top-level fields by proto or JSON name; unknown ones are rejected, like
 * Envoy's `reject_unknown_query_parameters`.
 */
export function requestMessage<Desc extends DescMessage>(
  schema: Desc,
  variables: Readonly<Record<string, string>>,
  query: URLSearchParams,
  jsonBody?: { field: string; value: JsonValue },
): MessageShape<Desc> {
  const json: JsonObject = {};
  if (jsonBody?.field === "*") {
    if (!isObject(jsonBody.value)) throw badRequest("the request body must be a JSON object");
    Object.assign(json, jsonBody.value);
  } else if (jsonBody) {
    json[fieldNamed(schema, jsonBody.field)!.jsonName] = jsonBody.value;
  }
  for (const key of new Set(query.keys())) {
    const field = fieldNamed(schema, key);
    if (!field) throw badRequest(`unknown query parameter "${key}"`);
    const values = query.getAll(key).map((v) => queryValue(field, v));
    json[field.jsonName] = field.fieldKind === "list" ? values : values.at(-1)!;
  }
  for (const [name, value] of Object.entries(variables)) json[fieldNamed(schema, name)!.jsonName] = value;
  try {
    return fromJson(schema, json);
  } catch (err) {
    throw badRequest((err as Error).message);
  }
}

function fieldNamed(schema: DescMessage, name: string): DescField | undefined {
  return schema.fields.find((f) => f.name === name || f.jsonName === name);
}

/** A query string value as the JSON value the field's mapping accepts (numbers may stay strings). */
function queryValue(field: DescField, value: string): JsonValue {
  const scalarBool = (field.fieldKind === "scalar" || field.fieldKind === "list") && field.scalar === ScalarType.BOOL;
  if (!scalarBool) return value;
  if (value === "true" || value === "false") return value === "true";
  throw badRequest(`query parameter "${field.name}" must be true or false`);
}

function isObject(value: JsonValue): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

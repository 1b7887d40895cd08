import { makeGenericClientConstructor } from "@grpc/grpc-js";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import {
  ChunkerServiceClient,
  ChunkerServiceService,
  DownloadFileResponse,
  PutChunksRequest as ChunkerPutChunksRequest,
  UploadFileContentRequest,
  UploadFileRequest,
  UploadFilesRequest,
  UploadMetadata,
  UploadFinish,
} from "#gen/cfs/chunker/v1/chunker.js";
import {
  BlockStorageServiceClient,
  BlockStorageServiceService,
  ChunkHeader,
  GetChunkResponse,
  PutChunksRequest as BlockPutChunksRequest,
  ReadChunksResponse,
} from "#gen/cfs/blockstore/v1/blockstore.js";
import { File } from "#gen/cfs/metadata/v1/metadata.js";
import { HttpBody } from "#gen/google/api/httpbody.js";
import { Any } from "#gen/google/protobuf/any.js";
import { framedMessage, lendReceivedHeadroom, messageInPlace, zeroCopyFraming } from "./grpc-framing.js";

/**
 * Serializers for the messages that carry file bytes. ts-proto's own copy
 * every payload three times on the way out (into the writer, when the writer
 * concatenates its parts, and in `Buffer.from`) and once more on the way in
 * (`Buffer.from(reader.bytes())`); grpc-js adds one copy each way (framing
 * on send, joining HTTP/2 frames on receipt). Here a payload is copied at
 * most once on the way out — into a message that already holds its gRPC
 * frame header, which grpc-js then sends as it is (grpc-framing.ts) — and
 * not at all when it has headroom (a chunk cut by the chunker, a chunk read
 * by block storage, a chunk the chunker received from block storage and
 * sends on, whole or as its first frame): its headers are written in front
 * of it. A decoded payload is a view of the received message. Every other
 * message, and every other field, goes through the generated code.
 *
 * Messages are decoded completely (unknown fields skipped), so these are
 * drop-in replacements, checked against the generated codecs in the tests.
 */

// The messages below come framed; grpc-js sends them without a copy once patched.
zeroCopyFraming();

const LENGTH_DELIMITED = 2;
const VARINT = 0;

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(target: Buffer, offset: number, value: number): number {
  while (value >= 0x80) {
    target[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  target[offset++] = value;
  return offset;
}

/**
 * One field of an encoded message: a varint, a length-delimited payload, or
 * a message of its own (HttpBody inside a request) written in the same
 * buffer, so its payload is copied once, not into the inner message and
 * then again into the outer one.
 */
type Field = { field: number; varint: number } | { field: number; bytes: Uint8Array } | { field: number; fields: readonly Field[] };

function fieldSize(f: Field): number {
  const tag = varintSize(f.field << 3);
  if ("varint" in f) return tag + varintSize(f.varint);
  const length = "bytes" in f ? f.bytes.length : fieldsSize(f.fields);
  return tag + varintSize(length) + length;
}

function fieldsSize(fields: readonly Field[]): number {
  let size = 0;
  for (const f of fields) size += fieldSize(f);
  return size;
}

type BytesField = Extract<Field, { bytes: Uint8Array }>;

/** The field whose payload a message ends with: its last field, or the one its last nested message ends with. */
function trailingBytesField(fields: readonly Field[]): BytesField | undefined {
  const last = fields[fields.length - 1];
  if (!last || "varint" in last) return undefined;
  return "bytes" in last ? last : trailingBytesField(last.fields);
}

/**
 * The fields, in order, as one framed message (grpc-framing.ts): in place in
 * front of the payload the message ends with when that payload has headroom,
 * else in one new buffer with the payloads copied in.
 */
function encodeFields(fields: readonly Field[]): Buffer {
  const size = fieldsSize(fields);
  const trailing = trailingBytesField(fields);
  const inPlace = trailing && messageInPlace(trailing.bytes, size - trailing.bytes.length);
  const out = inPlace || framedMessage(size);
  writeFields(out, 0, fields, inPlace ? trailing : undefined);
  return out;
}

/** Writes the fields from `offset` on, all but `inPlace`'s payload (already where it belongs); returns the end. */
function writeFields(out: Buffer, offset: number, fields: readonly Field[], inPlace: BytesField | undefined): number {
  for (const f of fields) {
    if ("varint" in f) {
      offset = writeVarint(out, offset, (f.field << 3) | VARINT);
      offset = writeVarint(out, offset, f.varint);
    } else if ("bytes" in f) {
      offset = writeVarint(out, offset, (f.field << 3) | LENGTH_DELIMITED);
      offset = writeVarint(out, offset, f.bytes.length);
      if (f !== inPlace) out.set(f.bytes, offset);
      offset += f.bytes.length;
    } else {
      offset = writeVarint(out, offset, (f.field << 3) | LENGTH_DELIMITED);
      offset = writeVarint(out, offset, fieldsSize(f.fields));
      offset = writeFields(out, offset, f.fields, inPlace);
    }
  }
  return offset;
}

/** An int64 as a number, refused beyond 2^53 like the generated decoders do. */
function safeNumber(value: bigint | string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error("int64 value is outside the safe integer range");
  return n;
}

/** A view of the generated encoder's output, without `Buffer.from`'s copy. */
function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A view of the next length-delimited field's bytes in the received buffer. */
function bytesView(reader: BinaryReader): Buffer {
  const bytes = reader.bytes();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Walks a message's fields; `onField` reads the ones it knows and answers false for the others, which are skipped. */
function readFields(input: Uint8Array | BinaryReader, length: number | undefined, onField: (field: number, wireType: number, reader: BinaryReader) => boolean): void {
  const reader = input instanceof BinaryReader ? input : new BinaryReader(input);
  const end = length === undefined ? reader.len : reader.pos + length;
  while (reader.pos < end) {
    const [field, wireType] = reader.tag();
    if (!onField(field, wireType, reader)) reader.skip(wireType);
  }
}

function encodeHttpBody(body: HttpBody): Buffer {
  const fields = httpBodyFields(body);
  return fields ? encodeFields(fields) : view(HttpBody.encode(body).finish());
}

/** An HttpBody's fields, or undefined when it has extensions (the generated code encodes those). */
function httpBodyFields(body: HttpBody): Field[] | undefined {
  if (body.extensions.length > 0) return undefined;
  const fields: Field[] = [];
  if (body.contentType !== "") fields.push({ field: 1, bytes: Buffer.from(body.contentType, "utf8") });
  if (body.data.length > 0) fields.push({ field: 2, bytes: body.data });
  return fields;
}

/** An HttpBody as a field of the message around it: written inside that message's buffer when it can be. */
function httpBodyField(field: number, body: HttpBody): Field {
  const fields = httpBodyFields(body);
  return fields ? { field, fields } : { field, bytes: view(HttpBody.encode(body).finish()) };
}

function decodeHttpBody(input: Uint8Array | BinaryReader, length?: number): HttpBody {
  const body: HttpBody = { contentType: "", data: Buffer.alloc(0), extensions: [] };
  readFields(input, length, (field, wireType, reader) => {
    if (wireType !== LENGTH_DELIMITED) return false;
    if (field === 1) body.contentType = reader.string();
    else if (field === 2) body.data = bytesView(reader);
    else if (field === 3) body.extensions.push(Any.decode(reader, reader.uint32()));
    else return false;
    return true;
  });
  return body;
}

export const httpBodyCodec = { encode: encodeHttpBody, decode: (bytes: Buffer) => decodeHttpBody(bytes) };

export const uploadFileRequestCodec = {
  encode(message: UploadFileRequest): Buffer {
    if (message.payload?.$case === "data") return encodeFields([{ field: 2, bytes: message.payload.value }]);
    return view(UploadFileRequest.encode(message).finish());
  },
  decode(bytes: Buffer): UploadFileRequest {
    const message: UploadFileRequest = { payload: undefined };
    readFields(bytes, undefined, (field, wireType, reader) => {
      if (wireType !== LENGTH_DELIMITED) return false;
      if (field === 1) message.payload = { $case: "metadata", value: UploadMetadata.decode(reader, reader.uint32()) };
      else if (field === 2) message.payload = { $case: "data", value: bytesView(reader) };
      else if (field === 3) message.payload = { $case: "finish", value: UploadFinish.decode(reader, reader.uint32()) };
      else return false;
      return true;
    });
    return message;
  },
};

export const uploadFilesRequestCodec = {
  encode(message: UploadFilesRequest): Buffer {
    if (message.payload?.$case === "data") return encodeFields([{ field: 2, bytes: message.payload.value }]);
    return view(UploadFilesRequest.encode(message).finish());
  },
  decode(bytes: Buffer): UploadFilesRequest {
    // UploadFileRequest's fields exactly; only the header's case is named "file".
    const { payload } = uploadFileRequestCodec.decode(bytes);
    return { payload: payload?.$case === "metadata" ? { $case: "file", value: payload.value } : payload };
  },
};

export const downloadFileResponseCodec = {
  encode(message: DownloadFileResponse): Buffer {
    if (message.payload?.$case === "data") return encodeFields([{ field: 2, bytes: message.payload.value }]);
    return view(DownloadFileResponse.encode(message).finish());
  },
  decode(bytes: Buffer): DownloadFileResponse {
    const message: DownloadFileResponse = { payload: undefined };
    readFields(bytes, undefined, (field, wireType, reader) => {
      if (wireType !== LENGTH_DELIMITED) return false;
      if (field === 1) message.payload = { $case: "file", value: File.decode(reader, reader.uint32()) };
      else if (field === 2) message.payload = { $case: "data", value: bytesView(reader) };
      else return false;
      return true;
    });
    return message;
  },
};

export const uploadFileContentRequestCodec = {
  encode(message: UploadFileContentRequest): Buffer {
    // Only the first message carries the query fields: the rest are bodies.
    const bodyOnly = message.name === "" && message.size === undefined && message.sha256 === undefined && message.idempotencyKey === undefined;
    if (!bodyOnly || !message.content) return view(UploadFileContentRequest.encode(message).finish());
    return encodeFields([httpBodyField(4, message.content)]);
  },
  decode(bytes: Buffer): UploadFileContentRequest {
    const message: UploadFileContentRequest = { name: "", content: undefined };
    readFields(bytes, undefined, (field, wireType, reader) => {
      if (field === 1 && wireType === LENGTH_DELIMITED) message.name = reader.string();
      else if (field === 2 && wireType === VARINT) message.size = safeNumber(reader.int64());
      else if (field === 3 && wireType === LENGTH_DELIMITED) message.sha256 = reader.string();
      else if (field === 4 && wireType === LENGTH_DELIMITED) message.content = decodeHttpBody(reader, reader.uint32());
      else if (field === 5 && wireType === LENGTH_DELIMITED) message.idempotencyKey = reader.string();
      else return false;
      return true;
    });
    return message;
  },
};

export const chunkerPutChunksRequestCodec = {
  encode(message: ChunkerPutChunksRequest): Buffer {
    const fields: Field[] = [];
    if (message.uploadId !== "") fields.push({ field: 1, bytes: Buffer.from(message.uploadId, "utf8") });
    if (message.index !== undefined) {
      if (message.index < 0) return view(ChunkerPutChunksRequest.encode(message).finish());
      fields.push({ field: 2, varint: message.index });
    }
    if (message.content) fields.push(httpBodyField(3, message.content));
    return encodeFields(fields);
  },
  decode(bytes: Buffer): ChunkerPutChunksRequest {
    const message: ChunkerPutChunksRequest = { uploadId: "", content: undefined };
    readFields(bytes, undefined, (field, wireType, reader) => {
      if (field === 1 && wireType === LENGTH_DELIMITED) message.uploadId = reader.string();
      else if (field === 2 && wireType === VARINT) message.index = reader.int32();
      else if (field === 3 && wireType === LENGTH_DELIMITED) message.content = decodeHttpBody(reader, reader.uint32());
      else return false;
      return true;
    });
    return message;
  },
};

export const blockPutChunksRequestCodec = {
  encode(message: BlockPutChunksRequest): Buffer {
    if (message.payload?.$case === "data") return encodeFields([{ field: 2, bytes: message.payload.value }]);
    return view(BlockPutChunksRequest.encode(message).finish());
  },
  decode(bytes: Buffer): BlockPutChunksRequest {
    const message: BlockPutChunksRequest = { payload: undefined };
    readFields(bytes, undefined, (field, wireType, reader) => {
      if (wireType !== LENGTH_DELIMITED) return false;
      if (field === 1) message.payload = { $case: "header", value: ChunkHeader.decode(reader, reader.uint32()) };
      else if (field === 2) message.payload = { $case: "data", value: bytesView(reader) };
      else return false;
      return true;
    });
    return message;
  },
};

export const readChunksResponseCodec = {
  encode(message: ReadChunksResponse): Buffer {
    if (message.index < 0) return view(ReadChunksResponse.encode(message).finish());
    const fields: Field[] = [];
    if (message.index !== 0) fields.push({ field: 1, varint: message.index });
    if (message.data.length > 0) fields.push({ field: 2, bytes: message.data });
    return encodeFields(fields);
  },
  decode(bytes: Buffer): ReadChunksResponse {
    const message: ReadChunksResponse = { index: 0, data: Buffer.alloc(0) };
    readFields(bytes, undefined, (field, wireType, reader) => {
      if (field === 1 && wireType === VARINT) message.index = reader.int32();
      else if (field === 2 && wireType === LENGTH_DELIMITED) message.data = bytesView(reader);
      else return false;
      return true;
    });
    // The chunker sends the chunk on to its client: its headers go where this message's were.
    lendReceivedHeadroom(bytes, message.data);
    return message;
  },
};

export const getChunkResponseCodec = {
  encode(message: GetChunkResponse): Buffer {
    return encodeFields(message.data.length > 0 ? [{ field: 1, bytes: message.data }] : []);
  },
  decode(bytes: Buffer): GetChunkResponse {
    const message: GetChunkResponse = { data: Buffer.alloc(0) };
    readFields(bytes, undefined, (field, wireType, reader) => {
      if (field !== 1 || wireType !== LENGTH_DELIMITED) return false;
      message.data = bytesView(reader);
      return true;
    });
    return message;
  },
};

interface Codec<T> {
  encode(value: T): Buffer;
  decode(bytes: Buffer): T;
}

type Req<M> = M extends { requestDeserialize: (bytes: Buffer) => infer Q } ? Q : never;
type Res<M> = M extends { responseDeserialize: (bytes: Buffer) => infer R } ? R : never;
type CodecsFor<D> = { [K in keyof D]?: { request?: Codec<Req<D[K]>>; response?: Codec<Res<D[K]>> } };

/** A service definition whose named methods use the given codecs (same shape, so grpc-js and our types take it as is). */
function withCodecs<D extends Record<string, object>>(definition: D, codecs: CodecsFor<D>): D {
  const result: Record<string, object> = { ...definition };
  for (const [method, codec] of Object.entries(codecs) as Array<[string, { request?: Codec<unknown>; response?: Codec<unknown> }]>) {
    result[method] = {
      ...definition[method],
      ...(codec.request ? { requestSerialize: codec.request.encode, requestDeserialize: codec.request.decode } : {}),
      ...(codec.response ? { responseSerialize: codec.response.encode, responseDeserialize: codec.response.decode } : {}),
    };
  }
  return result as D;
}

/** ChunkerService with the bulk codecs: for its server and for clients (`makeGenericClientConstructor`). */
export const ChunkerServiceDefinition = withCodecs(ChunkerServiceService, {
  uploadFile: { request: uploadFileRequestCodec },
  uploadFiles: { request: uploadFilesRequestCodec },
  downloadFile: { response: downloadFileResponseCodec },
  uploadFileContent: { request: uploadFileContentRequestCodec },
  downloadFileContent: { response: httpBodyCodec },
  putChunks: { request: chunkerPutChunksRequestCodec },
});

/** BlockStorageService with the bulk codecs. */
export const BlockStorageServiceDefinition = withCodecs(BlockStorageServiceService, {
  putChunks: { request: blockPutChunksRequestCodec },
  getChunk: { response: getChunkResponseCodec },
  readChunks: { response: readChunksResponseCodec },
});

/** ChunkerServiceClient on the bulk codecs (the CLI, the bench, tests). */
export const ChunkerClient = makeGenericClientConstructor(ChunkerServiceDefinition, "cfs.chunker.v1.ChunkerService") as unknown as typeof ChunkerServiceClient;

/** BlockStorageServiceClient on the bulk codecs (the chunker, sync verification). */
export const BlockStorageClient = makeGenericClientConstructor(
  BlockStorageServiceDefinition,
  "cfs.blockstore.v1.BlockStorageService",
) as unknown as typeof BlockStorageServiceClient;

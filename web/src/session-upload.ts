import { FastCdcCutter } from "#lib/fastcdc.js";

/**
 * Uploads a file the way `cfs put` does: cut here into the same
 * content-defined chunks as the server and every client cuts (FastCDC,
 * lib/fastcdc.ts, the very same code), each hashed with WebCrypto; the
 * server says which chunks it lacks, and only those are sent, a run of
 * consecutive chunks per request. Unchanged parts of a file the user
 * uploaded before cost nothing.
 */

type Json = Record<string, unknown>;

/** The requests this needs, made by the page's API client (which holds the token). */
export interface SessionHttp {
  /** A JSON request; rejects with the API's error for a non-2xx answer. */
  json(method: "GET" | "POST" | "DELETE", path: string, body?: Json, signal?: AbortSignal): Promise<Json>;
  /** PUT of raw bytes with upload progress; rejects like json(). */
  putBytes(path: string, body: Blob, onProgress: (loaded: number) => void, signal: AbortSignal): Promise<Json>;
}

export interface SessionProgress {
  phase: "hashing" | "sending" | "saving";
  /** Bytes hashed (hashing) or sent (sending) so far. */
  done: number;
  /** Bytes to hash (the file) or to send (the chunks the server lacks). */
  total: number;
  /** Known once the server answered which chunks it has: bytes it did not need. */
  storedBytes: number;
}

export interface SessionResult {
  file: Json;
  sentBytes: number;
  storedBytes: number;
}

interface Chunk {
  offset: number;
  size: number;
  sha256: string;
}

/** The file is read in slices of this size; a chunk's bytes are joined only to hash them. */
const SLICE_BYTES = 8 * 1024 * 1024;
/** Bytes per PUT: the unit of progress the server confirms. */
const BATCH_BYTES = 16 * 1024 * 1024;
const PAGE = 1000;

export async function uploadInChunks(
  http: SessionHttp,
  file: Blob,
  name: string,
  avgBytes: number,
  onProgress: (progress: SessionProgress) => void,
  signal: AbortSignal,
): Promise<SessionResult> {
  const chunks = await chunkBlob(file, avgBytes, (done) => onProgress({ phase: "hashing", done, total: file.size, storedBytes: 0 }), signal);
  const page = (from: number) => chunks.slice(from, from + PAGE).map(({ sha256, size }) => ({ sha256, size }));
  const started = await http.json(
    "POST",
    "/v1/uploads",
    { name, contentType: file.type, size: String(file.size), chunkCount: chunks.length, chunks: page(0) },
    signal,
  );
  const uploadId = String(((started.upload ?? {}) as Json).uploadId ?? "");
  const missing = ranges(started.missing);
  for (let from = PAGE; from < chunks.length; from += PAGE) {
    const declared = await http.json("POST", `/v1/uploads/${uploadId}/chunk-list`, { firstIndex: from, chunks: page(from) }, signal);
    missing.push(...ranges(declared.missing));
  }
  const missingBytes = missing.reduce((total, r) => total + bytesOf(chunks, r.start, r.start + r.count), 0);
  const storedBytes = file.size - missingBytes;
  let sentBytes = 0;
  onProgress({ phase: "sending", done: 0, total: missingBytes, storedBytes });
  for (const { start, count } of missing) {
    for (let i = start; i < start + count; ) {
      let end = i + 1;
      while (end < start + count && bytesOf(chunks, i, end + 1) <= BATCH_BYTES) end++;
      const from = chunks[i]!.offset;
      const to = chunks[end - 1]!.offset + chunks[end - 1]!.size;
      await http.putBytes(
        `/v1/uploads/${uploadId}/chunks/${i}`,
        file.slice(from, to),
        (loaded) => onProgress({ phase: "sending", done: sentBytes + loaded, total: missingBytes, storedBytes }),
        signal,
      );
      sentBytes += to - from;
      i = end;
    }
  }
  onProgress({ phase: "saving", done: missingBytes, total: missingBytes, storedBytes });
  const finished = await http.json("POST", `/v1/uploads/${uploadId}/finish`, {}, signal);
  return { file: (finished.file ?? {}) as Json, sentBytes, storedBytes };
}

/** The file's chunks, cut by FastCDC and hashed with WebCrypto, reading it a slice at a time. */
async function chunkBlob(file: Blob, avgBytes: number, onHashed: (bytes: number) => void, signal: AbortSignal): Promise<Chunk[]> {
  const cutter = new FastCdcCutter(avgBytes);
  const chunks: Chunk[] = [];
  let parts: Uint8Array[] = [];
  let partsBytes = 0;
  let chunkStart = 0;
  const endChunk = async () => {
    const bytes = new Uint8Array(partsBytes);
    let at = 0;
    for (const part of parts) {
      bytes.set(part, at);
      at += part.length;
    }
    chunks.push({ offset: chunkStart, size: partsBytes, sha256: hex(await crypto.subtle.digest("SHA-256", bytes)) });
    chunkStart += partsBytes;
    parts = [];
    partsBytes = 0;
  };
  for (let position = 0; position < file.size; position += SLICE_BYTES) {
    if (signal.aborted) throw new DOMException("Upload cancelled", "AbortError");
    const slice = new Uint8Array(await file.slice(position, position + SLICE_BYTES).arrayBuffer());
    let start = 0;
    for (let cut; (cut = cutter.feed(slice, start)) !== -1; start = cut) {
      parts.push(slice.subarray(start, cut));
      partsBytes += cut - start;
      await endChunk();
    }
    if (start < slice.length) {
      parts.push(slice.subarray(start));
      partsBytes += slice.length - start;
    }
    onHashed(Math.min(position + SLICE_BYTES, file.size));
  }
  if (partsBytes > 0) await endChunk();
  return chunks;
}

function bytesOf(chunks: readonly Chunk[], from: number, to: number): number {
  return chunks[to - 1]!.offset + chunks[to - 1]!.size - chunks[from]!.offset;
}

function ranges(raw: unknown): Array<{ start: number; count: number }> {
  return Array.isArray(raw) ? raw.map((r: Json) => ({ start: Number(r.start ?? 0), count: Number(r.count ?? 0) })) : [];
}

function hex(digest: ArrayBuffer): string {
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

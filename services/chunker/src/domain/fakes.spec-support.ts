import { createHash, randomUUID } from "node:crypto";
import { CfsError } from "#lib/errors.js";
import type { ChunkReading, ChunkWriter, ChunkWriting } from "../ports/chunk-storage.js";
import type { ChunkPage, CommitRequest, FileCommits, FileReads } from "../ports/file-catalogue.js";
import type { NewSession, SessionRecord, UploadSessionStore } from "../ports/upload-sessions.js";
import type { ChunkRef, ChunkSpec, StoredFile } from "./types.js";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/**
 * In-memory stand-ins for the chunker's ports, for the unit tests of its
 * domain logic only (the real adapters are tested against real services).
 * Block storage verifies hashes on write like the real one.
 */
export function fakes(options: { pageSize?: number; receipts?: boolean } = {}) {
  const stored = new Map<string, Buffer>();
  const commits: CommitRequest[] = [];
  /** The requests of each commitMany call. */
  const batchCommits: CommitRequest[][] = [];
  const released: string[] = [];
  const writes: string[] = [];
  /** Every chunk begun on a writer, stored before or not. */
  const sends: string[] = [];
  let writersOpened = 0;
  const reads: string[] = [];
  let missingCalls = 0;

  const blocks: ChunkWriting & ChunkReading = {
    missing: async (hashes) => {
      missingCalls++;
      return new Set(hashes.filter((h) => !stored.has(h)));
    },
    chunkBuffer: (size) => Buffer.allocUnsafe(size),
    openWriter(): ChunkWriter {
      writersOpened++;
      let current: { sha256: string; size: number; parts: Buffer[] } | undefined;
      let failure: unknown;
      /** What this stream carried, in order: the fake receipt's MAC spells it out. */
      const carried: string[] = [];
      const complete = () => {
        if (!current) return;
        const data = Buffer.concat(current.parts);
        if (data.length !== current.size || sha256(data) !== current.sha256) failure ??= new CfsError("invalid-argument", `chunk ${current.sha256} does not match`);
        else if (!stored.has(current.sha256)) {
          stored.set(current.sha256, data);
          writes.push(current.sha256);
        }
        current = undefined;
      };
      return {
        begin: async (hash, size) => {
          complete();
          sends.push(hash);
          carried.push(`${hash} ${size}`);
          current = { sha256: hash, size, parts: [] };
        },
        data: async (part) => {
          current!.parts.push(Buffer.from(part));
        },
        finish: async () => {
          complete();
          if (failure) throw failure;
          return { created: 0, stored: 0, ...(options.receipts && { receipt: { issuedAtMs: 42, mac: Buffer.from(carried.join("\n")) } }) };
        },
        abort: () => {
          current = undefined;
        },
      };
    },
    async *read(chunks) {
      for (const chunk of chunks) {
        const data = stored.get(chunk.sha256);
        if (!data) throw new CfsError("not-found", `chunk ${chunk.sha256} not found`);
        reads.push(chunk.sha256);
        yield data;
      }
    },
  };

  const files = new Map<string, { file: StoredFile; chunks: ChunkRef[] }>();
  const record = (request: CommitRequest): StoredFile => {
    const file: StoredFile = {
      fileId: randomUUID(),
      name: request.name,
      size: request.size,
      sha256: request.sha256,
      contentType: request.contentType,
      numChunks: request.chunks.length,
      version: 1,
    };
    files.set(file.fileId, { file, chunks: [...request.chunks] });
    return file;
  };
  const catalogue: FileCommits & FileReads = {
    commit: async (request) => {
      commits.push(request);
      return record(request);
    },
    commitMany: async (requests) => {
      batchCommits.push([...requests]);
      return requests.map(record);
    },
    releaseChunks: async (hashes) => {
      released.push(...hashes);
    },
    getFile: async (fileId, version) => {
      const found = files.get(fileId);
      if (!found) throw new CfsError("not-found", "file not found");
      if (version !== 0 && version !== found.file.version) throw new CfsError("not-found", `version ${version} of the file not found`);
      return found.file;
    },
    listChunks: async (fileId, _version, token): Promise<ChunkPage> => {
      const all = files.get(fileId)!.chunks;
      const from = token === "" ? 0 : Number(token);
      const to = from + (options.pageSize ?? 1000);
      return { chunks: all.slice(from, to), nextPageToken: to < all.length ? String(to) : "" };
    },
  };

  const sessionRows = new Map<string, { record: SessionRecord; list: ChunkRef[] }>();
  const sessionCommits: Array<{ uploadId: string; sha256: string }> = [];
  const sessions: UploadSessionStore = {
    create: async (session: NewSession, page: readonly ChunkSpec[]) => {
      const record: SessionRecord = { ...session, uploadId: randomUUID(), chunksDeclared: 0, createdAt: new Date(), expiresAt: undefined, file: undefined, knownSha256: "" };
      sessionRows.set(record.uploadId, { record, list: [] });
      return sessions.append(record.uploadId, 0, page, { token: "" });
    },
    append: async (uploadId, firstIndex, page) => {
      const row = sessionRows.get(uploadId);
      if (!row) throw new CfsError("not-found", "upload not found");
      if (firstIndex !== row.list.length) throw new CfsError("failed-precondition", "gap");
      let offset = row.list.reduce((total, c) => total + c.size, 0);
      for (const c of page) {
        row.list.push({ index: row.list.length, sha256: c.sha256, size: c.size, offset });
        offset += c.size;
      }
      row.record = { ...row.record, chunksDeclared: row.list.length };
      return row.record;
    },
    get: async (uploadId, firstIndex, maxChunks) => {
      const row = sessionRows.get(uploadId);
      if (!row) throw new CfsError("not-found", "upload not found");
      return { session: row.record, chunks: row.list.slice(firstIndex, firstIndex + maxChunks) };
    },
    commitSession: async (uploadId, hash) => {
      const row = sessionRows.get(uploadId)!;
      if (row.record.file) return row.record.file;
      sessionCommits.push({ uploadId, sha256: hash });
      const file: StoredFile = { fileId: randomUUID(), name: row.record.name, size: row.record.size, sha256: hash || row.record.knownSha256, contentType: "", numChunks: row.list.length, version: 1 };
      row.record = { ...row.record, file };
      return file;
    },
    delete: async (uploadId) => {
      sessionRows.delete(uploadId);
    },
  };

  return {
    blocks,
    catalogue,
    sessions,
    stored,
    commits,
    batchCommits,
    released,
    writes,
    sends,
    reads,
    sessionRows,
    sessionCommits,
    missingCalls: () => missingCalls,
    writersOpened: () => writersOpened,
  };
}

export type Fakes = ReturnType<typeof fakes>;

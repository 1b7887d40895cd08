import { describeFailure, int64, syncState, timestamp, type SyncState } from "./format.js";
import { uploadInChunks, type SessionHttp } from "./session-upload.js";

/**
 * The cfs REST API (proto3 JSON mapping of the gRPC services: lowerCamelCase
 * fields, int64 as strings, RFC 3339 timestamps). Every call carries the
 * user's bearer token; errors are {"code": <gRPC code>, "message": "..."}.
 */

export interface FileInfo {
  fileId: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  numChunks: number;
  version: number;
  createdAt: Date | undefined;
  updatedAt: Date | undefined;
  /** Set for a file in the trash. */
  deletedAt: Date | undefined;
}

/** GetUsage: what the user stores against the quota (0: unlimited). */
export interface UsageInfo {
  usedBytes: number;
  quotaBytes: number;
  fileCount: number;
  trashBytes: number;
}

export interface FileVersionInfo {
  version: number;
  size: number;
  sha256: string;
  contentType: string;
  createdAt: Date | undefined;
}

export interface SyncStatus {
  state: SyncState;
  /** The verification's error message when the state is failed. */
  message: string;
}

export interface FilePage {
  files: FileInfo[];
  nextPageToken: string;
}

/** A failed call: HTTP status (0: no answer), gRPC code, and a sentence for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number | undefined,
    readonly serverMessage: string,
  ) {
    super(describeFailure(status, serverMessage));
    this.name = "ApiError";
  }
}

export interface Upload {
  /** Resolves with the committed file, rejects with ApiError. */
  done: Promise<UploadResult>;
  abort(): void;
}

export interface UploadProgress {
  /** What is happening: reading the file to find its chunks, sending, or the server committing. */
  phase: "hashing" | "sending" | "saving";
  /** Bytes hashed or handed to the network so far. */
  loaded: number;
  total: number;
  /** Bytes of the file the server had already (so they were not sent); known once sending starts. */
  storedBytes: number;
}

export interface UploadResult {
  file: FileInfo;
  /** Bytes that travelled, and bytes the server had already. */
  sentBytes: number;
  storedBytes: number;
}

type Json = Record<string, unknown>;

function field(obj: Json, camel: string, snake: string): unknown {
  return obj[camel] ?? obj[snake];
}

export function toFile(raw: unknown): FileInfo {
  const f = (raw ?? {}) as Json;
  return {
    fileId: String(field(f, "fileId", "file_id") ?? ""),
    name: String(f.name ?? ""),
    size: int64(f.size),
    sha256: String(f.sha256 ?? ""),
    contentType: String(field(f, "contentType", "content_type") ?? ""),
    numChunks: int64(field(f, "numChunks", "num_chunks")),
    version: int64(f.version),
    createdAt: timestamp(field(f, "createdAt", "created_at")),
    updatedAt: timestamp(field(f, "updatedAt", "updated_at")),
    deletedAt: timestamp(field(f, "deletedAt", "deleted_at")),
  };
}

function toVersion(raw: unknown): FileVersionInfo {
  const v = (raw ?? {}) as Json;
  return {
    version: int64(v.version),
    size: int64(v.size),
    sha256: String(v.sha256 ?? ""),
    contentType: String(field(v, "contentType", "content_type") ?? ""),
    createdAt: timestamp(field(v, "createdAt", "created_at")),
  };
}

async function failure(response: Response): Promise<ApiError> {
  let code: number | undefined;
  let message = "";
  try {
    const body = (await response.json()) as Json;
    if (typeof body.code === "number") code = body.code;
    if (typeof body.message === "string") message = body.message;
  } catch {
    // not JSON (a proxy's error page): the status says enough
  }
  return new ApiError(response.status, code, message);
}

function xhrFailure(xhr: XMLHttpRequest): ApiError {
  if (xhr.status === 0) return new ApiError(0, undefined, "");
  let code: number | undefined;
  let message = "";
  try {
    const body = JSON.parse(xhr.responseText) as Json;
    if (typeof body.code === "number") code = body.code;
    if (typeof body.message === "string") message = body.message;
  } catch {
    // not JSON
  }
  return new ApiError(xhr.status, code, message);
}

export interface AppPasswordInfo {
  id: string;
  label: string;
  createdAt: Date | undefined;
  lastUsedAt: Date | undefined;
}

/** A new app password: the secret is in this answer only. */
export interface CreatedAppPassword {
  id: string;
  secret: string;
  username: string;
}

export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly token: () => Promise<string>,
  ) {}

  private url(path: string, query: Record<string, string | number | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") params.set(k, String(v));
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ""}`;
  }

  /** A token, or 401 (the session cannot get one any more: sign in again). */
  private async bearer(): Promise<string> {
    try {
      return await this.token();
    } catch (err) {
      throw new ApiError(401, 16, err instanceof Error ? err.message : "");
    }
  }

  private async request(method: string, url: string, signal?: AbortSignal, body?: Json): Promise<Response> {
    const token = await this.bearer();
    let response: Response;
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "application/json" };
    if (body) headers["content-type"] = "application/json";
    try {
      response = await fetch(url, { method, headers, signal, body: body ? JSON.stringify(body) : undefined });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new ApiError(0, undefined, "");
    }
    if (!response.ok) throw await failure(response);
    return response;
  }

  private async json(method: string, url: string, signal?: AbortSignal, body?: Json): Promise<Json> {
    const response = await this.request(method, url, signal, body);
    const text = await response.text();
    return text ? (JSON.parse(text) as Json) : {};
  }

  async listAppPasswords(): Promise<AppPasswordInfo[]> {
    const body = await this.json("GET", this.url("/v1/app-passwords"));
    const list = field(body, "appPasswords", "app_passwords");
    return Array.isArray(list)
      ? list.map((raw: Json) => ({
          id: String(raw.id ?? ""),
          label: String(raw.label ?? ""),
          createdAt: timestamp(field(raw, "createdAt", "created_at")),
          lastUsedAt: timestamp(field(raw, "lastUsedAt", "last_used_at")),
        }))
      : [];
  }

  async createAppPassword(label: string): Promise<CreatedAppPassword> {
    const body = await this.json("POST", this.url("/v1/app-passwords"), undefined, { label });
    return { id: String(body.id ?? ""), secret: String(body.secret ?? ""), username: String(body.username ?? "") };
  }

  async revokeAppPassword(id: string): Promise<void> {
    await this.json("DELETE", this.url(`/v1/app-passwords/${encodeURIComponent(id)}`));
  }

  async listFiles(options: { pageSize: number; pageToken?: string; prefix?: string }, signal?: AbortSignal): Promise<FilePage> {
    const body = await this.json(
      "GET",
      this.url("/v1/files", { pageSize: options.pageSize, pageToken: options.pageToken, prefix: options.prefix }),
      signal,
    );
    const files = Array.isArray(body.files) ? body.files.map(toFile) : [];
    return { files, nextPageToken: String(field(body, "nextPageToken", "next_page_token") ?? "") };
  }

  async deleteFile(fileId: string): Promise<void> {
    await this.json("DELETE", this.url(`/v1/files/${encodeURIComponent(fileId)}`));
  }

  async moveFile(fileId: string, newName: string): Promise<FileInfo> {
    return toFile((await this.json("POST", this.url(`/v1/files/${encodeURIComponent(fileId)}/move`), undefined, { newName })).file);
  }

  async restoreVersion(fileId: string, version: number): Promise<FileInfo> {
    return toFile((await this.json("POST", this.url(`/v1/files/${encodeURIComponent(fileId)}/versions/${version}/restore`), undefined, {})).file);
  }

  async listTrash(pageToken = "", signal?: AbortSignal): Promise<FilePage> {
    const body = await this.json("GET", this.url("/v1/trash", { pageSize: 100, pageToken }), signal);
    const files = Array.isArray(body.files) ? body.files.map(toFile) : [];
    return { files, nextPageToken: String(field(body, "nextPageToken", "next_page_token") ?? "") };
  }

  async undeleteFile(fileId: string): Promise<FileInfo> {
    return toFile((await this.json("POST", this.url(`/v1/trash/${encodeURIComponent(fileId)}/undelete`), undefined, {})).file);
  }

  async purgeFile(fileId: string): Promise<void> {
    await this.json("DELETE", this.url(`/v1/trash/${encodeURIComponent(fileId)}`));
  }

  async usage(signal?: AbortSignal): Promise<UsageInfo> {
    const body = await this.json("GET", this.url("/v1/usage"), signal);
    return {
      usedBytes: int64(field(body, "usedBytes", "used_bytes")),
      quotaBytes: int64(field(body, "quotaBytes", "quota_bytes")),
      fileCount: int64(field(body, "fileCount", "file_count")),
      trashBytes: int64(field(body, "trashBytes", "trash_bytes")),
    };
  }

  async listVersions(fileId: string): Promise<FileVersionInfo[]> {
    const body = await this.json("GET", this.url(`/v1/files/${encodeURIComponent(fileId)}/versions`));
    return Array.isArray(body.versions) ? body.versions.map(toVersion) : [];
  }

  /**
   * The state of the file's newest sync event; pending right after an
   * upload, before the event reached the sync service (the server says so).
   */
  async syncStatus(fileId: string, signal?: AbortSignal): Promise<SyncStatus> {
    const body = await this.json("GET", this.url(`/v1/files/${encodeURIComponent(fileId)}/sync-status`), signal);
    const latest = (field(body, "latestEvent", "latest_event") ?? {}) as Json;
    return { state: syncState(body.status), message: String(field(latest, "errorMessage", "error_message") ?? "") };
  }

  /** The newest version's bytes, or those of `version`. */
  async download(fileId: string, version?: number): Promise<Blob> {
    const response = await this.request("GET", this.url(`/v1/files/${encodeURIComponent(fileId)}/content`, { version }));
    return response.blob();
  }

  /**
   * Uploads a file. One smaller than the server's smallest chunk is one
   * chunk: it goes whole, in one request. A larger one is cut and hashed
   * here, and only the chunks the server lacks are sent (session-upload.ts).
   */
  upload(file: Blob, name: string, onProgress: (progress: UploadProgress) => void): Upload {
    const abort = new AbortController();
    const done = (async (): Promise<UploadResult> => {
      const config = await this.uploadConfig();
      if (file.size < config.chunkMinBytes) {
        return { file: await this.uploadWhole(file, name, onProgress, abort.signal), sentBytes: file.size, storedBytes: 0 };
      }
      const result = await uploadInChunks(this.sessionHttp(), file, name, config.chunkAvgBytes, (p) => onProgress({ ...p, loaded: p.done }), abort.signal);
      return { file: toFile(result.file), sentBytes: result.sentBytes, storedBytes: result.storedBytes };
    })();
    return { done, abort: () => abort.abort() };
  }

  private config: Promise<{ chunkAvgBytes: number; chunkMinBytes: number }> | undefined;

  /** How the server cuts files (asked once). */
  private uploadConfig(): Promise<{ chunkAvgBytes: number; chunkMinBytes: number }> {
    this.config ??= this.json("GET", this.url("/v1/upload-config")).then((body) => ({
      chunkAvgBytes: Number(field(body, "chunkAvgBytes", "chunk_avg_bytes")),
      chunkMinBytes: Number(field(body, "chunkMinBytes", "chunk_min_bytes")),
    }));
    this.config.catch(() => (this.config = undefined));
    return this.config;
  }

  private sessionHttp(): SessionHttp {
    return {
      json: async (method, path, body, signal) => {
        const token = await this.bearer();
        let response: Response;
        try {
          response = await fetch(this.url(path), {
            method,
            headers: { authorization: `Bearer ${token}`, accept: "application/json", ...(body ? { "content-type": "application/json" } : {}) },
            body: body ? JSON.stringify(body) : undefined,
            signal,
          });
        } catch (err) {
          if (signal?.aborted) throw new DOMException("Upload cancelled", "AbortError");
          throw new ApiError(0, undefined, String(err));
        }
        if (!response.ok) throw await failure(response);
        const text = await response.text();
        return text ? (JSON.parse(text) as Json) : {};
      },
      putBytes: (path, body, onLoaded, signal) => this.send("PUT", this.url(path), body, (loaded) => onLoaded(loaded), signal),
    };
  }

  /** POST /v1/files?name=…&size=… with the raw bytes. */
  private async uploadWhole(file: Blob, name: string, onProgress: (progress: UploadProgress) => void, signal: AbortSignal): Promise<FileInfo> {
    // The declared size makes a body cut short fail instead of committing a truncated file.
    const body = await this.send("POST", this.url("/v1/files", { name, size: file.size }), file, (loaded) => {
      onProgress(loaded < file.size ? { phase: "sending", loaded, total: file.size, storedBytes: 0 } : { phase: "saving", loaded, total: file.size, storedBytes: 0 });
    }, signal, file.type);
    return toFile(body.file);
  }

  /** A request with a raw body, by XMLHttpRequest: fetch reports no upload progress. */
  private async send(method: "POST" | "PUT", url: string, body: Blob, onLoaded: (loaded: number) => void, signal: AbortSignal, contentType = ""): Promise<Json> {
    const token = await this.bearer();
    return new Promise<Json>((resolve, reject) => {
      if (signal.aborted) return reject(new DOMException("Upload cancelled", "AbortError"));
      const xhr = new XMLHttpRequest();
      signal.addEventListener("abort", () => xhr.abort(), { once: true });
      xhr.open(method, url);
      xhr.setRequestHeader("authorization", `Bearer ${token}`);
      xhr.setRequestHeader("accept", "application/json");
      xhr.setRequestHeader("content-type", contentType || "application/octet-stream");
      xhr.upload.onprogress = (e) => onLoaded(e.loaded);
      xhr.upload.onload = () => onLoaded(body.size);
      xhr.onload = () => {
        if (xhr.status < 200 || xhr.status >= 300) return reject(xhrFailure(xhr));
        try {
          resolve(JSON.parse(xhr.responseText) as Json);
        } catch {
          reject(new ApiError(xhr.status, undefined, "the server's answer was not JSON"));
        }
      };
      xhr.onerror = () => reject(xhrFailure(xhr));
      xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
      xhr.send(body);
    });
  }
}

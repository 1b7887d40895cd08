import { describeFailure, int64, syncState, timestamp, type SyncState } from "./format.js";

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
  done: Promise<FileInfo>;
  abort(): void;
}

export interface UploadProgress {
  /** Bytes handed to the network so far. */
  loaded: number;
  total: number;
  /** All bytes sent; the server is storing and committing them. */
  sent: boolean;
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

  async listVersions(fileId: string): Promise<FileVersionInfo[]> {
    const body = await this.json("GET", this.url(`/v1/files/${encodeURIComponent(fileId)}/versions`));
    return Array.isArray(body.versions) ? body.versions.map(toVersion) : [];
  }

  /**
   * The state of the file's newest sync event. Right after an upload the
   * event may not have reached the sync service yet (NOT_FOUND): pending.
   */
  async syncStatus(fileId: string, signal?: AbortSignal): Promise<SyncStatus> {
    try {
      const body = await this.json("GET", this.url(`/v1/files/${encodeURIComponent(fileId)}/sync-status`), signal);
      const latest = (field(body, "latestEvent", "latest_event") ?? {}) as Json;
      return { state: syncState(body.status), message: String(field(latest, "errorMessage", "error_message") ?? "") };
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return { state: "pending", message: "" };
      throw err;
    }
  }

  /** The newest version's bytes. */
  async download(fileId: string): Promise<Blob> {
    const response = await this.request("GET", this.url(`/v1/files/${encodeURIComponent(fileId)}/content`));
    return response.blob();
  }

  /**
   * POST /v1/files?name=…&size=… with the raw bytes. XMLHttpRequest, because
   * fetch reports no upload progress.
   */
  upload(file: Blob, name: string, onProgress: (progress: UploadProgress) => void): Upload {
    const xhr = new XMLHttpRequest();
    let aborted = false;
    const done = this.bearer().then(
      (token) =>
        new Promise<FileInfo>((resolve, reject) => {
          if (aborted) return reject(new DOMException("Upload cancelled", "AbortError"));
          // The declared size makes a body cut short fail instead of committing a truncated file.
          xhr.open("POST", this.url("/v1/files", { name, size: file.size }));
          xhr.setRequestHeader("authorization", `Bearer ${token}`);
          xhr.setRequestHeader("accept", "application/json");
          xhr.setRequestHeader("content-type", file.type || "application/octet-stream");
          xhr.upload.onprogress = (e) => onProgress({ loaded: e.loaded, total: e.lengthComputable ? e.total : file.size, sent: false });
          xhr.upload.onload = () => onProgress({ loaded: file.size, total: file.size, sent: true });
          xhr.onload = () => {
            if (xhr.status >= 200 && xhr.status < 300) {
              try {
                resolve(toFile((JSON.parse(xhr.responseText) as Json).file));
              } catch {
                reject(new ApiError(xhr.status, undefined, "the server's answer was not the uploaded file"));
              }
            } else {
              reject(xhrFailure(xhr));
            }
          };
          xhr.onerror = () => reject(xhrFailure(xhr));
          xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
          xhr.send(file);
        }),
    );
    return {
      done,
      abort: () => {
        aborted = true;
        xhr.abort();
      },
    };
  }
}

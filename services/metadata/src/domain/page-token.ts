import { invalidArgument } from "#lib/errors.js";
import type { TrashKey } from "./types.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;
/** A token holds one name and one prefix of at most 1024 bytes each. */
const MAX_TOKEN_LENGTH = 8192;

/** 0 means the default; larger than the maximum is capped, not refused. */
export function pageSize(requested: number): number {
  if (!Number.isInteger(requested) || requested < 0) throw invalidArgument("page_size must not be negative");
  return requested === 0 ? DEFAULT_PAGE_SIZE : Math.min(requested, MAX_PAGE_SIZE);
}

/**
 * The ListFiles continuation: the last name of the page (the keyset) and the
 * prefix the page was listed with, as base64url JSON. Clients must treat it
 * as opaque; the prefix is inside so a token cannot be replayed against a
 * different listing.
 */
export function encodePageToken(lastName: string, prefix: string): string {
  return Buffer.from(JSON.stringify({ n: lastName, p: prefix }), "utf8").toString("base64url");
}

/** The name to continue after, or INVALID_ARGUMENT for anything we did not issue for this prefix. */
export function decodePageToken(token: string, prefix: string): string {
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalidArgument("page_token is not valid");
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidArgument("page_token is not valid");
  }
  if (typeof decoded !== "object" || decoded === null) throw invalidArgument("page_token is not valid");
  const { n, p } = decoded as Record<string, unknown>;
  if (typeof n !== "string" || typeof p !== "string" || n === "" || !n.startsWith(p) || /\p{Cc}/u.test(n)) {
    throw invalidArgument("page_token is not valid");
  }
  if (p !== prefix) throw invalidArgument("page_token was issued for a different prefix");
  return n;
}

/** ListFileChunks pages: 1000 chunks by default (one HasChunks call's worth), at most 10000. */
export const DEFAULT_CHUNK_PAGE_SIZE = 1000;
export const MAX_CHUNK_PAGE_SIZE = 10_000;

export function chunkPageSize(requested: number): number {
  if (!Number.isInteger(requested) || requested < 0) throw invalidArgument("page_size must not be negative");
  return requested === 0 ? DEFAULT_CHUNK_PAGE_SIZE : Math.min(requested, MAX_CHUNK_PAGE_SIZE);
}

/**
 * The ListFileChunks continuation: the version the list belongs to (so that
 * later pages stay on the version the first one resolved, even when a newer
 * one is committed meanwhile) and the next chunk index.
 */
export function encodeChunkPageToken(version: number, nextIndex: number): string {
  return Buffer.from(JSON.stringify({ v: version, i: nextIndex }), "utf8").toString("base64url");
}

export function decodeChunkPageToken(token: string): { version: number; nextIndex: number } {
  if (token.length > 256 || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalidArgument("page_token is not valid");
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidArgument("page_token is not valid");
  }
  const { v, i } = (typeof decoded === "object" && decoded !== null ? decoded : {}) as Record<string, unknown>;
  if (!Number.isInteger(v) || (v as number) < 1 || !Number.isInteger(i) || (i as number) < 1) throw invalidArgument("page_token is not valid");
  return { version: v as number, nextIndex: i as number };
}

/** The ListTrash continuation: the (deleted_at, file_id) of the page's last file. */
export function encodeTrashPageToken(key: TrashKey): string {
  return Buffer.from(JSON.stringify({ d: key.deletedAt.getTime(), f: key.fileId }), "utf8").toString("base64url");
}

export function decodeTrashPageToken(token: string): TrashKey {
  if (token.length > 256 || !/^[A-Za-z0-9_-]+$/.test(token)) throw invalidArgument("page_token is not valid");
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidArgument("page_token is not valid");
  }
  const { d, f } = (typeof decoded === "object" && decoded !== null ? decoded : {}) as Record<string, unknown>;
  if (!Number.isSafeInteger(d) || (d as number) < 0 || typeof f !== "string" || !UUID.test(f)) throw invalidArgument("page_token is not valid");
  return { deletedAt: new Date(d as number), fileId: f };
}

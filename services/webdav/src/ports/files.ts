import type { CallIdentity } from "#lib/grpc-client.js";

/** A file as WebDAV shows it. */
export interface DavFile {
  fileId: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** The user's catalogue (metadata service), as the WebDAV server needs it. */
export interface FileCatalogue {
  /** Every file whose name starts with `prefix`, in name order (all pages). */
  list(prefix: string, as: CallIdentity): Promise<DavFile[]>;
  /** The file of exactly this name. */
  find(name: string, as: CallIdentity): Promise<DavFile | undefined>;
  /** Whether any file's name starts with `prefix`. */
  any(prefix: string, as: CallIdentity): Promise<boolean>;
  remove(fileId: string, as: CallIdentity): Promise<void>;
  /** `file`'s newest content under `name` (a new file, or a new version of one): chunk references only, no bytes move. */
  copy(file: DavFile, name: string, as: CallIdentity): Promise<DavFile>;
  /** Renames or moves (MoveFile): the file keeps its id, versions and chunks; no bytes move. */
  move(file: DavFile, name: string, as: CallIdentity): Promise<DavFile>;
  /** What the user stores against the quota (RFC 4331's quota properties). */
  usage(as: CallIdentity): Promise<DavUsage>;
}

export interface DavUsage {
  usedBytes: number;
  /** 0: unlimited. */
  quotaBytes: number;
}

/** Content through the chunker: the same chunking and dedup as every upload. */
export interface FileContent {
  /** Streams `length` bytes from `offset` (0: to the end) of the newest version. */
  download(fileId: string, offset: number, length: number, as: CallIdentity): AsyncIterable<Buffer>;
  /** Streams `data` in as `name`; `size` (when known) makes a cut-off body fail instead of committing. */
  upload(name: string, contentType: string, size: number | undefined, data: AsyncIterable<Buffer>, as: CallIdentity): Promise<DavFile>;
}

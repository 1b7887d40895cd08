/** A committed file as the catalogue returns it (the newest version). */
export interface StoredFile {
  fileId: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  numChunks: number;
  version: number;
  createdAt?: Date | undefined;
  updatedAt?: Date | undefined;
}

/** A chunk as a client declares it: its hash and size. */
export interface ChunkSpec {
  sha256: string;
  size: number;
}

/** One chunk of a file version, in order. */
export interface ChunkRef {
  index: number;
  sha256: string;
  size: number;
  offset: number;
}

export interface UploadHeader {
  name: string;
  contentType: string;
  /** When declared, the upload fails unless exactly this many bytes arrive. */
  size?: number | undefined;
  /** When declared, the upload fails unless the content hashes to it. */
  sha256?: string | undefined;
  /** A second upload with the same key returns the first one's file and version. */
  idempotencyKey?: string | undefined;
}

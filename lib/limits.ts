/**
 * Limits every cfs service agrees on. They are part of the API: the proto
 * comments quote them, and a value changed here changes what every service
 * accepts, so no service keeps a copy of its own.
 */

/** Hashes (or chunk entries) one request may name: HasChunks, DeleteChunks, ReleaseChunks, event chunk lists per call. */
export const MAX_HASHES_PER_CALL = 1000;

/** File versions one InspectFileVersions call (sync's verification) may name. */
export const MAX_VERSIONS_PER_INSPECTION = 100;

/** Files one UploadFiles call (and the CommitFileVersions it makes) may carry. */
export const MAX_FILES_PER_BATCH = 1000;

/**
 * Content bytes one UploadFiles call may carry in all: a batch is for small
 * files, and its chunk list travels in one commit message (at most this over
 * FastCDC's smallest minimum chunk, 16 KiB, plus one per file: ~5000 entries).
 */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

/** The longest JWT subject (owner) accepted; longer tokens are refused before any lookup. */
export const MAX_OWNER_LENGTH = 512;

/** A file name's length in bytes of UTF-8 (the whole path, `/` included). */
export const MAX_NAME_BYTES = 1024;

/** One path segment of a name, in bytes of UTF-8: what file systems a sync client writes to allow (ext4, APFS, NTFS). */
export const MAX_SEGMENT_BYTES = 255;

/** A content type's length in characters. */
export const MAX_CONTENT_TYPE_LENGTH = 255;

/** The largest chunk any service stores or accepts: FastCDC's maximum (4 × the largest allowed average) fits. */
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Bytes of a message's field headers allowed for around a payload that
 * fills a message (a chunk's data between services): a payload of up to
 * CFS_MAX_MESSAGE_BYTES less this goes as one message.
 */
export const MESSAGE_HEADERS_BYTES = 64;

/** Lowercase hex SHA-256, the form every hash takes in the API. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Chunks one file may have: 64 GiB in chunks of 64 KiB (FastCDC's smallest allowed average). */
export const MAX_CHUNKS_PER_FILE = 1024 * 1024;

/** An idempotency key (UploadMetadata.idempotency_key): what fits a query string or header as is. */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

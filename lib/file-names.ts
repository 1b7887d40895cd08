import { invalidArgument } from "./errors.js";
import { MAX_NAME_BYTES, MAX_SEGMENT_BYTES } from "./limits.js";

/** C0, DEL and C1 controls (NUL included: PostgreSQL text cannot hold it). */
const CONTROL = /\p{Cc}/u;
/** A lone UTF-16 surrogate cannot be encoded as UTF-8. */
const LONE_SURROGATE = /\p{Cs}/u;
/**
 * U+FFFD is what decoders put where bytes were not UTF-8 (protobuf string
 * fields, percent-decoded query parameters): a name holding it was mangled
 * on its way, and storing it would silently replace what the client meant.
 */
const REPLACEMENT = "\uFFFD";

/**
 * The canonical form of a file name, or INVALID_ARGUMENT saying what is
 * wrong. Names are NFC-normalized so the same visible name typed on macOS
 * (NFD) and elsewhere is one file. `/` separates folders, so empty, `.` and
 * `..` segments are refused: clients that map names onto a file system must
 * never be steered outside their sync folder. Names are never storage keys.
 */
export function normalizeName(raw: string): string {
  if (raw === "") throw invalidArgument("name must not be empty");
  checkCharacters(raw, "name");
  const name = raw.normalize("NFC");
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > MAX_NAME_BYTES) throw invalidArgument(`name is ${bytes} bytes of UTF-8, the limit is ${MAX_NAME_BYTES}`);
  if (name.includes("\\")) throw invalidArgument("name must not contain a backslash; use / to separate folders");
  if (name.startsWith("/")) throw invalidArgument("name must not start with /");
  for (const segment of name.split("/")) {
    if (segment === "") throw invalidArgument("name must not contain an empty path segment (// or a trailing /)");
    if (segment === "." || segment === "..") throw invalidArgument(`name must not contain a "${segment}" path segment`);
    const segmentBytes = Buffer.byteLength(segment, "utf8");
    if (segmentBytes > MAX_SEGMENT_BYTES) {
      throw invalidArgument(`a path segment of the name is ${segmentBytes} bytes of UTF-8, the limit is ${MAX_SEGMENT_BYTES}`);
    }
  }
  return name;
}

/**
 * The ListFiles prefix in the same canonical form as names. Any string a
 * name may start with is accepted, so a folder prefix like "photos/" works.
 */
export function normalizePrefix(raw: string): string {
  if (raw === "") return "";
  checkCharacters(raw, "prefix");
  const prefix = raw.normalize("NFC");
  if (Buffer.byteLength(prefix, "utf8") > MAX_NAME_BYTES) throw invalidArgument(`prefix is longer than ${MAX_NAME_BYTES} bytes of UTF-8`);
  return prefix;
}

function checkCharacters(value: string, field: string): void {
  if (CONTROL.test(value)) throw invalidArgument(`${field} must not contain control characters`);
  if (LONE_SURROGATE.test(value) || value.includes(REPLACEMENT)) throw invalidArgument(`${field} is not valid UTF-8`);
}

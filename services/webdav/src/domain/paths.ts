import { CfsError } from "#lib/errors.js";

/**
 * WebDAV URLs ↔ cfs paths. A cfs path is a file name's form: `/`-separated,
 * NFC, no leading or trailing `/`; "" is the root collection. URLs are the
 * server's prefix (e.g. /dav/) plus each segment percent-encoded as UTF-8.
 */
export class DavPaths {
  /** Always with a leading and trailing slash, e.g. "/dav/". */
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = `/${prefix.replace(/^\/+|\/+$/g, "")}/`.replace(/^\/\/$/, "/");
  }

  /**
   * The cfs path of a request path (or Destination URL's path), or undefined
   * when it is outside the prefix. Bad percent-encoding or UTF-8 is a 400.
   */
  toPath(urlPath: string): string | undefined {
    const bare = urlPath === this.prefix.slice(0, -1) ? this.prefix : urlPath;
    if (!bare.startsWith(this.prefix)) return undefined;
    const segments = bare
      .slice(this.prefix.length)
      .split("/")
      .filter((s) => s !== "")
      .map((s) => {
        let decoded: string;
        try {
          decoded = decodeURIComponent(s);
        } catch {
          throw new CfsError("invalid-argument", "the URL is not valid percent-encoded UTF-8");
        }
        if (decoded.includes("/")) throw new CfsError("invalid-argument", "a name must not contain an encoded /");
        return decoded;
      });
    return segments.join("/").normalize("NFC");
  }

  /** The href of a path; collections end with "/". */
  href(path: string, collection: boolean): string {
    if (path === "") return this.prefix;
    const encoded = path.split("/").map(encodeSegment).join("/");
    return `${this.prefix}${encoded}${collection ? "/" : ""}`;
  }
}

/** Percent-encodes everything but RFC 3986 unreserved characters. */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** `path` is `ancestor` or under it ("" is above everything). */
export function isUnder(path: string, ancestor: string): boolean {
  return ancestor === "" || path === ancestor || path.startsWith(`${ancestor}/`);
}

/** The prefix that lists what is inside a collection. */
export function memberPrefix(collection: string): string {
  return collection === "" ? "" : `${collection}/`;
}

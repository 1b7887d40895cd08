import { createHash, createHmac } from "node:crypto";
import type { Client } from "minio";

export interface Credentials {
  accessKey: string;
  secretKey: string;
  region: string;
}

/** A presigned request's target: where to connect and what to send as path and Host. */
export interface PresignedRequest {
  protocol: string;
  hostname: string;
  port: string;
  /** The path with its query (the signature in it). */
  path: string;
}

/**
 * AWS Signature V4 query signing (UNSIGNED-PAYLOAD, the Host header signed)
 * for the objects of one bucket, with the signing key kept for its day.
 *
 * minio-js's presignedUrl derives the signing key afresh on every call
 * (four HMACs), escapes and re-validates everything, and awaits the bucket's
 * region: ~165 µs of CPU a request, where a request is one chunk PUT, GET or
 * HEAD — for a small upload three of them. Signing here costs one SHA-256
 * and one HMAC of a few hundred bytes.
 *
 * What the URL looks like (path style or virtual-host style, the host of an
 * AWS region, the port) stays minio-js's choice: `forBucket` asks it once
 * for a URL of a sample object and keeps everything before the object's
 * name. The spec checks that both sign every request the same.
 */
export class S3Presigner {
  private signingDay = "";
  private signingKey = Buffer.alloc(0);

  private constructor(
    private readonly target: { protocol: string; hostname: string; port: string; host: string; pathPrefix: string },
    private readonly credentials: Credentials,
  ) {}

  /** The bucket's URL layout from minio-js, for requests signed with these credentials. */
  static async forBucket(client: Client, bucket: string, credentials: Credentials): Promise<S3Presigner> {
    const sample = new URL(await client.presignedUrl("GET", bucket, SAMPLE_KEY, 60));
    if (!sample.pathname.endsWith(`/${SAMPLE_KEY}`)) throw new Error(`unexpected presigned URL layout: ${sample.pathname}`);
    return S3Presigner.at(new URL(sample.pathname.slice(0, -SAMPLE_KEY.length), sample.origin), credentials);
  }

  /** Objects are named by appending their key to `bucketUrl` (which ends with `/`). */
  static at(bucketUrl: URL, credentials: Credentials): S3Presigner {
    if (!bucketUrl.pathname.endsWith("/") || bucketUrl.search !== "") throw new Error(`not a bucket URL: ${bucketUrl.href}`);
    const { protocol, hostname, port, host, pathname } = bucketUrl;
    return new S3Presigner({ protocol, hostname, port, host, pathPrefix: pathname }, credentials);
  }

  /**
   * A request for `key` valid `expiresSeconds` from `now`. Keys are made of
   * characters that need no escaping (chunk keys are lowercase hex and `/`,
   * see ports/chunk-store.ts chunkKey); anything else, and a `.` or `..`
   * segment a server might resolve, is refused rather than signed
   * differently from what the server sees.
   */
  presign(method: "GET" | "PUT" | "HEAD", key: string, expiresSeconds: number, now = new Date()): PresignedRequest {
    if (!PLAIN_KEY.test(key)) throw new Error(`object key needs escaping: ${key}`);
    const stamp = now.toISOString();
    const day = `${stamp.slice(0, 4)}${stamp.slice(5, 7)}${stamp.slice(8, 10)}`;
    const amzDate = `${day}T${stamp.slice(11, 13)}${stamp.slice(14, 16)}${stamp.slice(17, 19)}Z`;
    const { accessKey, secretKey, region } = this.credentials;
    if (day !== this.signingDay) {
      const dateKey = createHmac("sha256", `AWS4${secretKey}`).update(day).digest();
      const regionKey = createHmac("sha256", dateKey).update(region).digest();
      const serviceKey = createHmac("sha256", regionKey).update("s3").digest();
      this.signingKey = createHmac("sha256", serviceKey).update("aws4_request").digest();
      this.signingDay = day;
    }
    const scope = `${day}/${region}/s3/aws4_request`;
    const query =
      `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${uriEscape(`${accessKey}/${scope}`)}` +
      `&X-Amz-Date=${amzDate}&X-Amz-Expires=${expiresSeconds}&X-Amz-SignedHeaders=host`;
    const path = `${this.target.pathPrefix}${key}`;
    const canonicalRequest = `${method}\n${path}\n${query}\nhost:${this.target.host}\n\nhost\nUNSIGNED-PAYLOAD`;
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash("sha256").update(canonicalRequest).digest("hex")}`;
    const signature = createHmac("sha256", this.signingKey).update(stringToSign).digest("hex");
    const { protocol, hostname, port } = this.target;
    return { protocol, hostname, port, path: `${path}?${query}&X-Amz-Signature=${signature}` };
  }
}

/** RFC 3986 escaping, as SigV4 (and minio-js) escape query values. */
function uriEscape(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Any object name will do: only the part of the URL before it is kept. */
const SAMPLE_KEY = "cfs-presign-sample";
/** `/`-separated segments of RFC 3986 unreserved characters, none of them `.` or `..`. */
const PLAIN_KEY = /^(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._~-]+)*$/;

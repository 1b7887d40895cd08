import { Client } from "minio";
import { describe, expect, it } from "vitest";
import { S3Presigner } from "./s3-presigner.js";

const credentials = { accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", region: "us-east-1" };
const chunk = `${"a".repeat(64)}/bb/${"b".repeat(64)}`;

/** minio-js's URL for the same request, the reference every signature must match. */
async function reference(client: Client, bucket: string, method: string, key: string, expires: number, at: Date): Promise<string> {
  return client.presignedUrl(method, bucket, key, expires, {}, at);
}

function urlOf(request: { protocol: string; hostname: string; port: string; path: string }): string {
  return `${request.protocol}//${request.hostname}${request.port ? `:${request.port}` : ""}${request.path}`;
}

describe("S3Presigner", () => {
  const endpoints = [
    { name: "MinIO over http on a port (path style)", options: { endPoint: "127.0.0.1", port: 9000, useSSL: false } },
    { name: "a named host over https on a port", options: { endPoint: "minio.cfs.svc", port: 9443, useSSL: true } },
    { name: "AWS S3 (virtual-host style)", options: { endPoint: "s3.amazonaws.com", useSSL: true } },
  ];
  for (const { name, options } of endpoints) {
    it(`signs every request as minio-js does: ${name}`, async () => {
      for (const region of ["us-east-1", "eu-central-1"]) {
        const client = new Client({ ...options, ...credentials, region });
        const presigner = await S3Presigner.forBucket(client, "cfs-chunks", { ...credentials, region });
        for (const at of [new Date("2013-05-24T00:00:00Z"), new Date("2026-12-02T23:59:59.999Z"), new Date("2026-12-03T00:00:01Z"), new Date("2013-05-24T10:11:12Z")]) {
          for (const method of ["GET", "PUT", "HEAD"] as const) {
            for (const key of [chunk, `quarantine/001764633600000/${chunk}`]) {
              expect(urlOf(presigner.presign(method, key, 60, at))).toBe(await reference(client, "cfs-chunks", method, key, 60, at));
            }
          }
        }
      }
    });
  }

  it("matches AWS's published example of a presigned GET", async () => {
    // docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
    const presigner = S3Presigner.at(new URL("https://examplebucket.s3.amazonaws.com/"), credentials);
    const url = new URL(urlOf(presigner.presign("GET", "test.txt", 86400, new Date("2013-05-24T00:00:00Z"))));
    expect(url.searchParams.get("X-Amz-Signature")).toBe("aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  });

  it("refuses a key it would have to escape", async () => {
    const client = new Client({ endPoint: "127.0.0.1", port: 9000, useSSL: false, ...credentials });
    const presigner = await S3Presigner.forBucket(client, "cfs-chunks", credentials);
    for (const key of ["a b", "../x", "a/./b", "a/..", "/x", "x//y", "x?y", "x%2F", ""]) expect(() => presigner.presign("GET", key, 60)).toThrow(/escaping/);
  });
});

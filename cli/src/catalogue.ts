import type { File, FileVersion } from "#gen/cfs/metadata/v1/metadata.js";
import type { Connection } from "./rpc.js";

export interface ListRequest {
  prefix: string;
  /** 0 lets the server choose. */
  pageSize: number;
  pageToken: string;
  /** Follow next_page_token to the end. */
  all: boolean;
}

export interface FileList {
  files: File[];
  /** Empty when nothing follows. */
  nextPageToken: string;
}

export async function listFiles(conn: Connection, request: ListRequest): Promise<FileList> {
  const files: File[] = [];
  let pageToken = request.pageToken;
  do {
    const page = await conn.unary(conn.metadata.listFiles.bind(conn.metadata), {
      prefix: request.prefix,
      pageSize: request.pageSize,
      pageToken,
    });
    files.push(...page.files);
    pageToken = page.nextPageToken;
  } while (request.all && pageToken !== "");
  return { files, nextPageToken: pageToken };
}

export async function listVersions(conn: Connection, fileId: string): Promise<FileVersion[]> {
  const response = await conn.unary(conn.metadata.listFileVersions.bind(conn.metadata), { fileId });
  return response.versions;
}

export async function deleteFile(conn: Connection, fileId: string): Promise<void> {
  await conn.unary(conn.metadata.deleteFile.bind(conn.metadata), { fileId });
}

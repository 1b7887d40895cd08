import type { File, FileVersion, GetUsageResponse } from "#gen/cfs/metadata/v1/metadata.js";
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

/** To the trash. */
export async function deleteFile(conn: Connection, fileId: string): Promise<void> {
  await conn.unary(conn.metadata.deleteFile.bind(conn.metadata), { fileId });
}

export async function moveFile(conn: Connection, fileId: string, newName: string): Promise<File> {
  return fileOf(await conn.unary(conn.metadata.moveFile.bind(conn.metadata), { fileId, newName }));
}

export async function restoreVersion(conn: Connection, fileId: string, version: number): Promise<File> {
  return fileOf(await conn.unary(conn.metadata.restoreFileVersion.bind(conn.metadata), { fileId, version }));
}

export async function listTrash(conn: Connection, all: boolean): Promise<FileList> {
  const files: File[] = [];
  let pageToken = "";
  do {
    const page = await conn.unary(conn.metadata.listTrash.bind(conn.metadata), { pageSize: 0, pageToken });
    files.push(...page.files);
    pageToken = page.nextPageToken;
  } while (all && pageToken !== "");
  return { files, nextPageToken: pageToken };
}

export async function undeleteFile(conn: Connection, fileId: string): Promise<File> {
  return fileOf(await conn.unary(conn.metadata.undeleteFile.bind(conn.metadata), { fileId }));
}

export async function purgeFile(conn: Connection, fileId: string): Promise<void> {
  await conn.unary(conn.metadata.purgeFile.bind(conn.metadata), { fileId });
}

export function getUsage(conn: Connection): Promise<GetUsageResponse> {
  return conn.unary(conn.metadata.getUsage.bind(conn.metadata), {});
}

/** Operators (a service token): one user's quota; undefined puts the server's default back. */
export async function setQuota(conn: Connection, owner: string, quotaBytes: number | undefined): Promise<void> {
  await conn.unary(conn.metadata.setQuota.bind(conn.metadata), { owner, quotaBytes });
}

function fileOf(response: { file?: File | undefined }): File {
  if (!response.file) throw new Error("metadata answered without a file");
  return response.file;
}

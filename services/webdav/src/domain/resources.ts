import type { CallIdentity } from "#lib/grpc-client.js";
import type { DavStateStore } from "../ports/dav-state.js";
import type { DavFile, FileCatalogue } from "../ports/files.js";
import { isUnder, memberPrefix, parentOf } from "./paths.js";

/**
 * What a path names: a file, or a collection — the root, a prefix of some
 * file's name, or a folder made with MKCOL (kept by the metadata service
 * while it is empty). A name that is both a file and a prefix of other
 * names is shown as the file.
 */
export type Resource = { kind: "file"; path: string; file: DavFile } | { kind: "collection"; path: string; updatedAt: Date | undefined };

export class Resources {
  constructor(
    private readonly files: FileCatalogue,
    private readonly state: DavStateStore,
  ) {}

  async stat(path: string, as: CallIdentity): Promise<Resource | undefined> {
    if (path === "") return { kind: "collection", path, updatedAt: undefined };
    const [file, hasMembers, folders] = await Promise.all([
      this.files.find(path, as),
      this.files.any(`${path}/`, as),
      this.state.listFolders(path, as),
    ]);
    if (file) return { kind: "file", path, file };
    if (hasMembers || folders.length > 0) return { kind: "collection", path, updatedAt: undefined };
    return undefined;
  }

  /** Whether `path` may hold a new member: it is a collection. */
  async isCollection(path: string, as: CallIdentity): Promise<boolean> {
    return (await this.stat(path, as))?.kind === "collection";
  }

  /** Every file under a collection (at any depth), in name order. */
  filesUnder(collection: string, as: CallIdentity): Promise<DavFile[]> {
    return this.files.list(memberPrefix(collection), as);
  }

  /** The collection's members, one level down. */
  async members(collection: string, as: CallIdentity): Promise<Resource[]> {
    const prefix = memberPrefix(collection);
    const [files, folders] = await Promise.all([this.files.list(prefix, as), this.state.listFolders(collection, as)]);
    const byName = new Map<string, Resource>();
    const folderTimes = new Map<string, Date>();
    for (const file of files) {
      const rest = file.name.slice(prefix.length);
      const slash = rest.indexOf("/");
      if (slash < 0) {
        byName.set(file.name, { kind: "file", path: file.name, file });
        continue;
      }
      const sub = prefix + rest.slice(0, slash);
      const seen = folderTimes.get(sub);
      if (!seen || file.updatedAt > seen) folderTimes.set(sub, file.updatedAt);
    }
    for (const folder of folders) {
      if (folder !== collection && isUnder(folder, collection) && parentOf(folder) === collection) folderTimes.set(folder, folderTimes.get(folder) ?? new Date(0));
      // A deeper folder makes its first segment below the collection a member too.
      else if (folder !== collection && isUnder(folder, collection)) {
        const sub = prefix + folder.slice(prefix.length).split("/")[0]!;
        if (!folderTimes.has(sub)) folderTimes.set(sub, new Date(0));
      }
    }
    for (const [path, updatedAt] of folderTimes) {
      if (!byName.has(path)) byName.set(path, { kind: "collection", path, updatedAt: updatedAt.getTime() === 0 ? undefined : updatedAt });
    }
    return [...byName.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
}

/**
 * The entity tag of a file: its content's SHA-256 with the version
 * (strong), the hash in base64url so that If headers naming it twice stay
 * short (litmus, and some clients, build them in fixed-size buffers).
 */
export function etagOf(file: DavFile): string {
  return `"${Buffer.from(file.sha256, "hex").toString("base64url")}-${file.version}"`;
}

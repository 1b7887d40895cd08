import type { AppPassword } from "#gen/cfs/metadata/v1/app_passwords.js";
import type { File, FileVersion, GetUsageResponse } from "#gen/cfs/metadata/v1/metadata.js";
import { formatBytes } from "#lib/bytes.js";
import { displayName } from "#lib/display-name.js";

interface Column<T> {
  header: string;
  value: (row: T) => string;
  align?: "right";
}

/** Space-separated columns; the last one is not padded (names may be long). */
function table<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const cells = rows.map((row) => columns.map((c) => c.value(row)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        if (i === values.length - 1) return v;
        return columns[i]!.align === "right" ? v.padStart(widths[i]!) : v.padEnd(widths[i]!);
      })
      .join("  ");
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n") + "\n";
}

/** "2030-01-02 03:04:05" in UTC, or "-" when the server sent no time. */
export function formatTime(time: Date | undefined): string {
  return time ? time.toISOString().slice(0, 19).replace("T", " ") : "-";
}

export function filesTable(files: readonly File[]): string {
  return table<File>(
    [
      { header: "FILE ID", value: (f) => f.fileId },
      { header: "VERSION", value: (f) => String(f.version), align: "right" },
      { header: "SIZE", value: (f) => formatBytes(f.size), align: "right" },
      { header: "UPDATED (UTC)", value: (f) => formatTime(f.updatedAt) },
      { header: "NAME", value: (f) => displayName(f.name) },
    ],
    files,
  );
}

export function trashTable(files: readonly File[]): string {
  return table<File>(
    [
      { header: "FILE ID", value: (f) => f.fileId },
      { header: "SIZE", value: (f) => formatBytes(f.size), align: "right" },
      { header: "DELETED (UTC)", value: (f) => formatTime(f.deletedAt) },
      { header: "NAME", value: (f) => displayName(f.name) },
    ],
    files,
  );
}

/** "1.2 GiB of 10.0 GiB used (12%), 300 MiB in the trash, 42 files"; "unlimited" without a quota. */
export function usageLine(usage: GetUsageResponse): string {
  const quota = usage.quotaBytes > 0 ? `of ${formatBytes(usage.quotaBytes)} used (${Math.floor((usage.usedBytes / usage.quotaBytes) * 100)}%)` : "used (no quota)";
  const files = `${usage.fileCount} file${usage.fileCount === 1 ? "" : "s"}`;
  return `${formatBytes(usage.usedBytes)} ${quota}, ${formatBytes(usage.trashBytes)} in the trash, ${files}\n`;
}

export function versionsTable(versions: readonly FileVersion[]): string {
  return table<FileVersion>(
    [
      { header: "VERSION", value: (v) => String(v.version), align: "right" },
      { header: "SIZE", value: (v) => formatBytes(v.size), align: "right" },
      { header: "CREATED (UTC)", value: (v) => formatTime(v.createdAt) },
      { header: "SHA256", value: (v) => v.sha256 },
    ],
    versions,
  );
}

export function appPasswordsTable(passwords: readonly AppPassword[]): string {
  return table<AppPassword>(
    [
      { header: "ID", value: (p) => p.id },
      { header: "CREATED (UTC)", value: (p) => formatTime(p.createdAt) },
      { header: "LAST USED (UTC)", value: (p) => (p.lastUsedAt ? formatTime(p.lastUsedAt) : "never") },
      { header: "LABEL", value: (p) => p.label },
    ],
    passwords,
  );
}

/** Machine-readable output: proto field names in camelCase, times as ISO 8601. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

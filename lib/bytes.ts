const UNITS = ["KiB", "MiB", "GiB", "TiB", "PiB"];

/**
 * A byte count for people, in binary units, the same in the CLI and on the
 * page: 1536 -> "1.5 KiB", 5242880 -> "5.0 MiB", 12 -> "12 B".
 */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = "B";
  for (const next of UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${unit}`;
}

/** A byte range of a representation: inclusive start, exclusive end. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The one range a Range header asks for (RFC 9110 14.2): undefined to send
 * the whole representation (no header, or one we do not serve — several
 * ranges, other units), "unsatisfiable" for a 416.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | "unsatisfiable" | undefined {
  if (!header) return undefined;
  const match = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(first);
  if (start >= size) return "unsatisfiable";
  const end = last === "" ? size : Math.min(size, Number(last) + 1);
  if (end <= start) return undefined;
  return { start, end };
}

/**
 * Characters that are invisible or reorder the text around them: bidi
 * embeddings, overrides and isolates, marks, zero-width characters, the
 * soft hyphen, fillers. In a file name they let one name pose as another
 * ("invoice‮fdp.exe" shows as "invoiceexe.pdf").
 */
const DECEPTIVE: ReadonlyArray<readonly [number, number]> = [
  [0x00ad, 0x00ad],
  [0x061c, 0x061c],
  [0x115f, 0x1160],
  [0x17b4, 0x17b5],
  [0x180e, 0x180e],
  [0x200b, 0x200f],
  [0x202a, 0x202e],
  [0x2060, 0x2064],
  [0x2066, 0x206f],
  [0x3164, 0x3164],
  [0xfeff, 0xfeff],
  [0xffa0, 0xffa0],
];

const isDeceptive = (c: string) => {
  const code = c.codePointAt(0)!;
  return DECEPTIVE.some(([from, to]) => code >= from && code <= to);
};

const escape = (c: string) => `\\u{${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}}`;

/**
 * A file name as clients show it to people: deceptive characters, and
 * path segments of nothing but white space, written as \u{XXXX} escapes so
 * that no name can look like another (or like nothing). Names cannot hold a
 * backslash, so an escape is never ambiguous. Every other character is shown
 * as it is.
 */
export function displayName(name: string): string {
  return [...name]
    .map((c) => (isDeceptive(c) ? escape(c) : c))
    .join("")
    .split("/")
    .map((segment) => (segment !== "" && /^\s+$/u.test(segment) ? [...segment].map(escape).join("") : segment))
    .join("/");
}

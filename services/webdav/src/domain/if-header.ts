import { CfsError } from "#lib/errors.js";

/** One condition of an If header list (RFC 4918 10.4). */
export type Condition = { not: boolean } & ({ kind: "token"; token: string } | { kind: "etag"; etag: string });

export interface IfList {
  /** The tagged resource (its URL as written), or undefined for the request URL. */
  resource: string | undefined;
  conditions: Condition[];
}

/** Parses an If header; a malformed one is a 400. */
export function parseIfHeader(header: string): IfList[] {
  const lists: IfList[] = [];
  let i = 0;
  let resource: string | undefined;
  const fail = () => new CfsError("invalid-argument", `malformed If header at character ${i + 1}: ${header}`);
  const skipSpace = () => {
    while (i < header.length && /\s/.test(header[i]!)) i++;
  };
  const readUntil = (end: string) => {
    const close = header.indexOf(end, i);
    if (close < 0) throw fail();
    const value = header.slice(i, close);
    i = close + 1;
    return value;
  };
  skipSpace();
  while (i < header.length) {
    if (header[i] === "<") {
      i++;
      resource = readUntil(">");
      skipSpace();
      if (header[i] !== "(") throw fail();
      continue;
    }
    if (header[i] !== "(") throw fail();
    i++;
    const conditions: Condition[] = [];
    for (;;) {
      skipSpace();
      if (header[i] === ")") {
        i++;
        break;
      }
      let not = false;
      if (header.slice(i, i + 3).toLowerCase() === "not") {
        not = true;
        i += 3;
        skipSpace();
      }
      if (header[i] === "<") {
        i++;
        conditions.push({ not, kind: "token", token: readUntil(">") });
      } else if (header[i] === "[") {
        i++;
        conditions.push({ not, kind: "etag", etag: readUntil("]") });
      } else {
        throw fail();
      }
    }
    if (conditions.length === 0) throw fail();
    lists.push({ resource, conditions });
    skipSpace();
  }
  if (lists.length === 0) throw fail();
  return lists;
}

/** Every state token the header names: the lock tokens the request submits. */
export function submittedTokens(lists: readonly IfList[]): Set<string> {
  return new Set(lists.flatMap((l) => l.conditions.flatMap((c) => (c.kind === "token" ? [c.token] : []))));
}

/** What a condition is checked against: the resource's lock tokens and entity tag. */
export interface ResourceState {
  lockTokens: ReadonlySet<string>;
  /** Undefined when the resource does not exist (or has no tag). */
  etag: string | undefined;
}

/**
 * Whether the header holds: some list whose conditions are all true of its
 * resource. `stateOf` answers for a tagged resource (undefined: the
 * request URL).
 */
export async function evaluateIf(lists: readonly IfList[], stateOf: (resource: string | undefined) => Promise<ResourceState>): Promise<boolean> {
  for (const list of lists) {
    const state = await stateOf(list.resource);
    const holds = list.conditions.every((c) => {
      const matches = c.kind === "token" ? state.lockTokens.has(c.token) : state.etag !== undefined && stripWeak(c.etag) === stripWeak(state.etag);
      return c.not ? !matches : matches;
    });
    if (holds) return true;
  }
  return false;
}

function stripWeak(etag: string): string {
  return etag.startsWith("W/") ? etag.slice(2) : etag;
}

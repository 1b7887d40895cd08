import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

/**
 * App password secrets: 32 characters of RFC 4648 base32 (lowercase), shown
 * as 4 groups of 8. The first 8 characters are a lookup key stored in plain
 * text (one index lookup finds the row, so a guess costs one hash, not one
 * per password of the user); the other 24 (120 random bits) are the secret
 * proper, stored only as a salted scrypt hash.
 */
const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const LOOKUP_LENGTH = 8;
const SECRET_LENGTH = 32;

export interface GeneratedSecret {
  /** What the user is shown once: xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx. */
  display: string;
  lookupKey: string;
  /** The part that is hashed. */
  verifier: string;
}

export function generateSecret(): GeneratedSecret {
  const bytes = randomBytes(SECRET_LENGTH);
  // 256 % 32 == 0: each byte maps to one character without bias.
  const plain = Array.from(bytes, (b) => ALPHABET[b % 32]).join("");
  return {
    display: plain.match(/.{8}/g)!.join("-"),
    lookupKey: plain.slice(0, LOOKUP_LENGTH),
    verifier: plain.slice(LOOKUP_LENGTH),
  };
}

/** A typed secret split into its parts (dashes, spaces and case ignored), or undefined when it cannot be one. */
export function parseSecret(typed: string): { lookupKey: string; verifier: string } | undefined {
  const plain = typed.replace(/[-\s]/g, "").toLowerCase();
  if (plain.length !== SECRET_LENGTH || ![...plain].every((c) => ALPHABET.includes(c))) return undefined;
  return { lookupKey: plain.slice(0, LOOKUP_LENGTH), verifier: plain.slice(LOOKUP_LENGTH) };
}

/**
 * scrypt with N = 2^15, r = 8, p = 1 (32 MiB, tens of ms): slow enough that
 * a leaked table is no shortcut, cheap enough for a login. The parameters
 * travel in the stored string, so they can be raised later.
 */
const COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

function derive(secret: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r };
  return new Promise((resolve, reject) => scrypt(secret, salt, KEY_LENGTH, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$<salt b64>$<hash b64>` */
export async function hashSecret(verifier: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(verifier, salt, COST);
  return ["scrypt", COST.N, COST.r, COST.p, salt.toString("base64"), key.toString("base64")].join("$");
}

export async function verifySecret(verifier: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const key = await derive(verifier, Buffer.from(salt, "base64"), { N: Number(n), r: Number(r), p: Number(p) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A stored hash of nothing anyone knows: an unknown lookup key costs the same time as a wrong secret. */
export const DECOY_HASH = await hashSecret(generateSecret().verifier);

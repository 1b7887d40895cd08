import { CliError, ExitCode } from "./errors.js";

const TIMEOUT_MS = 30_000;

/** Asks the development issuer (GET /dev/token?sub=<user>) for a user token. */
export async function devToken(issuerUrl: string, user: string, signal: AbortSignal): Promise<string> {
  const url = new URL("dev/token", issuerUrl.endsWith("/") ? issuerUrl : `${issuerUrl}/`);
  url.searchParams.set("sub", user);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.any([signal, AbortSignal.timeout(TIMEOUT_MS)]) });
  } catch (err) {
    if (signal.aborted) throw new CliError(ExitCode.interrupted, "interrupted");
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    throw new CliError(ExitCode.unavailable, `cannot reach the dev token issuer at ${url.origin}: ${cause}`, { cause: err });
  }
  const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; error?: unknown };
  if (response.status === 400) {
    throw new CliError(ExitCode.invalidArgument, `the dev token issuer refused "${user}": ${String(body.error ?? "bad request")}`);
  }
  if (!response.ok || typeof body.access_token !== "string") {
    throw new CliError(ExitCode.unexpected, `the dev token issuer answered HTTP ${response.status} without a token`);
  }
  return body.access_token;
}

import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type RunningStack } from "../../dev/stack.js";
import { REPO } from "../deploy/tools.js";

/**
 * The web page in a real browser (Debian's Chromium driven by
 * playwright-core) against the real stack: the edge serving the page built
 * from web/ now, the four services, and tokens from the dev issuer.
 */

const CHROMIUM = process.env.CFS_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = join(REPO, "test-artifacts");
const MiB = 1024 * 1024;
const STEP_MS = 30_000;

let dataDir: string;
let stack: RunningStack;
let browser: Browser;
let edgeUrl: string;
let webRoot: string;
const pageErrors: string[] = [];

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/ensure-chromium.sh (apt-get install chromium)`);
  dataDir = await mkdtemp(join(tmpdir(), "cfs-web-"));
  // The page as the sources are now (web/dist may be stale outside make).
  webRoot = join(dataDir, "web");
  await build({ root: join(REPO, "web"), logLevel: "warn", build: { outDir: webRoot, emptyOutDir: true } });
  stack = await startStack({
    dataDir,
    defaultPorts: false,
    logs: "files",
    edge: { webRoot },
    // Sync events relayed and verified quickly, so the page shows "Synced" soon.
    env: { CFS_OUTBOX_INTERVAL_MS: "200", CFS_VERIFY_INTERVAL_MS: "200" },
  });
  edgeUrl = stack.edgeUrl!;
  expect(edgeUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-background-networking"],
    timeout: STEP_MS,
  });
  await mkdir(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 720 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  page.on("pageerror", (err) => pageErrors.push(err.message));
  return { context, page };
}

async function signIn(page: Page, user: string): Promise<void> {
  await page.goto(`${edgeUrl}/`);
  await expect.poll(() => page.title()).toBe("Sign in — cfs");
  await page.getByLabel("User name").fill(user);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#user-name", { hasText: user }).waitFor();
  await page.locator("#file-list[aria-busy=false]").waitFor();
}

// Scripts that run in the page (strings: the tests' TypeScript has no DOM types).

/** Records every value the upload progress bars show, from the page's DOM. */
const RECORD_PROGRESS = `(() => {
  const seen = (window.progressSeen = []);
  const record = (bar) => {
    const item = bar.closest("li.upload");
    seen.push({ name: item?.dataset.name ?? "", value: Number(bar.getAttribute("value")), state: item?.dataset.state ?? "" });
  };
  new MutationObserver((mutations) => {
    for (const m of mutations) {
      if (m.type === "attributes" && m.target instanceof HTMLProgressElement) record(m.target);
      if (m.type === "childList") for (const n of m.addedNodes) if (n instanceof Element) n.querySelectorAll("progress").forEach(record);
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["value"] });
})()`;

const progressSeen = (page: Page) => page.evaluate("window.progressSeen") as Promise<Array<{ name: string; value: number; state: string }>>;

/** A drag-and-drop payload of one small file. */
const DROPPED_FILE = `(() => {
  const dt = new DataTransfer();
  dt.items.add(new File(["dropped bytes"], "dropped.txt", { type: "text/plain" }));
  return dt;
})()`;

/** The page's REST API with a dev token, to check what the server holds. */
async function api(user: string, path: string, init: RequestInit = {}): Promise<Response> {
  const token = await stack.issuer!.userToken(user);
  return fetch(`${edgeUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });
}

describe("web page", () => {
  it("signs in, uploads 5 MiB with a progress bar, lists it, downloads it byte-identical, deletes it after confirming", async () => {
    const { context, page } = await newPage();
    await signIn(page, "alice");
    await page.getByRole("heading", { name: "No files yet" }).waitFor();

    // Loopback moves 5 MiB in a blink: Chromium's network throttling (4 MiB/s up)
    // makes the upload last about a second, so the bar has steps to show.
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4 * MiB });
    await page.evaluate(RECORD_PROGRESS);
    const starts: Array<{ name: string; size: string }> = [];
    const puts: string[] = [];
    page.on("request", (r) => {
      const path = new URL(r.url()).pathname;
      if (r.method() === "POST" && path === "/v1/uploads") starts.push(r.postDataJSON() as { name: string; size: string });
      if (r.method() === "PUT" && /^\/v1\/uploads\/[^/]+\/chunks\/\d+$/.test(path)) puts.push(path);
    });

    const data = randomBytes(5 * MiB);
    const name = "random-5MiB.bin";
    await page.locator("#file-input").setInputFiles({ name, mimeType: "application/octet-stream", buffer: data });
    const item = page.locator(`li.upload[data-name="${name}"]`);
    await item.waitFor();
    await page.locator(`li.upload[data-name="${name}"][data-state="done"]`).waitFor();
    await expect.poll(() => item.locator("progress").getAttribute("value")).toBe("100");
    // Cut and hashed in the page: everything was new, so everything was sent.
    await expect.poll(() => item.locator(".upload-status").textContent()).toBe("Uploaded · 5.0 MiB sent, 0 B already stored");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });

    const seen = (await progressSeen(page)).filter((s) => s.name === name);
    const values = seen.map((s) => s.value);
    console.log(`web page: progress values seen for ${name}: ${values.join(", ")}`);
    expect(seen.some((s) => s.state === "uploading")).toBe(true);
    expect(values.at(-1)).toBe(100);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(values.filter((v) => v > 0 && v < 100).length).toBeGreaterThan(0);
    // The session declares the size (and the chunk list): a body cut short can never commit as a shorter file.
    expect(starts.map((u) => [u.name, u.size])).toEqual([[name, String(5 * MiB)]]);
    expect(puts.length).toBeGreaterThan(0);

    // The same bytes again, under another name: nothing travels but the chunk list.
    const copy = "copy-of-5MiB.bin";
    const putsBefore = puts.length;
    await page.locator("#file-input").setInputFiles({ name: copy, mimeType: "application/octet-stream", buffer: data });
    await page.locator(`li.upload[data-name="${copy}"][data-state="done"]`).waitFor();
    expect(await page.locator(`li.upload[data-name="${copy}"] .upload-status`).textContent()).toBe("Uploaded · 0 B sent, 5.0 MiB already stored");
    expect(puts.length).toBe(putsBefore);
    await page.locator(`tr[data-name="${copy}"]`).getByRole("button", { name: `Delete ${copy}` }).click();
    await page.getByRole("dialog", { name: `Delete “${copy}”?` }).getByRole("button", { name: "Delete" }).click();
    await page.locator(`tr[data-name="${copy}"]`).waitFor({ state: "detached" });

    // Listed with its size, version and, once verified, its sync status.
    const row = page.locator(`tr[data-name="${name}"]`);
    await row.waitFor();
    await expect.poll(() => row.locator("td.size").textContent()).toBe("5.0 MiB");
    expect(await row.locator("td.size").getAttribute("data-bytes")).toBe(String(5 * MiB));
    expect(await row.locator("td.version").textContent()).toBe("v1");
    await expect.poll(() => row.locator("td.sync .badge").textContent(), { timeout: STEP_MS }).toBe("Synced");
    await page.screenshot({ path: join(ARTIFACTS, "web-listing.png"), fullPage: true });

    // Download through the page: the same bytes.
    const [download] = await Promise.all([page.waitForEvent("download"), row.getByRole("button", { name: `Download ${name}` }).click()]);
    expect(download.suggestedFilename()).toBe(name);
    const path = await download.path();
    expect(sha256(await readFile(path))).toBe(sha256(data));

    // Delete: cancelling keeps the file, confirming deletes it.
    await row.getByRole("button", { name: `Delete ${name}` }).click();
    const dialog = page.getByRole("dialog", { name: `Delete “${name}”?` });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect(await row.count()).toBe(1);
    await row.getByRole("button", { name: `Delete ${name}` }).click();
    await dialog.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("heading", { name: "No files yet" }).waitFor();
    expect(await row.count()).toBe(0);
    const listed = (await (await api("alice", "/v1/files")).json()) as { files?: unknown[] };
    expect(listed.files ?? []).toEqual([]);

    await context.close();
    expect(pageErrors).toEqual([]);
  });

  it("shows a clear error for an upload the server rejects, and uploads the others (picker and drag-and-drop)", async () => {
    const { context, page } = await newPage();
    await signIn(page, "dave");
    await page.locator("#file-input").setInputFiles([
      { name: "bad\\name.txt", mimeType: "text/plain", buffer: Buffer.from("refused") },
      { name: "good.txt", mimeType: "text/plain", buffer: Buffer.from("accepted") },
    ]);
    const failed = page.locator('li.upload[data-name="bad\\\\name.txt"][data-state="error"]');
    await failed.waitFor();
    const message = await failed.getByRole("alert").textContent();
    expect(message).toMatch(/^Upload failed: The server refused the request: .*backslash/);
    await page.locator('tr[data-name="good.txt"]').waitFor();
    expect(await page.locator('tr[data-name="bad\\\\name.txt"]').count()).toBe(0);

    // The same name again is a new version; the version opens the history.
    await page.locator("#file-input").setInputFiles({ name: "good.txt", mimeType: "text/plain", buffer: Buffer.from("accepted, v2") });
    await page.locator('li.upload[data-name="good.txt"] .upload-status', { hasText: "Uploaded as version 2" }).waitFor();
    const good = page.locator('tr[data-name="good.txt"]');
    await expect.poll(() => good.locator("td.version").textContent()).toBe("v2");
    await good.getByRole("button", { name: "Version 2 of good.txt: show history" }).click();
    await page.getByRole("heading", { name: "2 versions of good.txt" }).waitFor();
    expect(await page.locator("tr.versions-row ol.versions li").allTextContents()).toEqual([
      expect.stringMatching(/^v2 · 12 B · /),
      expect.stringMatching(/^v1 · 8 B · /),
    ]);

    // Files dropped onto the page upload the same way.
    const dataTransfer = await page.evaluateHandle(DROPPED_FILE);
    await page.dispatchEvent("main", "dragenter", { dataTransfer });
    await page.locator(".drop-overlay").waitFor();
    await page.dispatchEvent("main", "drop", { dataTransfer });
    await page.locator(".drop-overlay").waitFor({ state: "hidden" });
    await page.locator('tr[data-name="dropped.txt"]').waitFor();
    await expect.poll(() => page.locator('tr[data-name="dropped.txt"] td.size').textContent()).toBe("13 B");

    await context.close();
    expect(pageErrors).toEqual([]);
  });

  it("renames, downloads and restores old versions, keeps a trash with undelete and delete forever, shows usage, and escapes deceptive names", async () => {
    const put = async (name: string, body: string) =>
      ((await (await api("ivan", `/v1/files?name=${encodeURIComponent(name)}`, { method: "POST", body, headers: { "content-type": "text/plain" } })).json()) as {
        file: { fileId: string };
      }).file;
    const notes = await put("notes.txt", "first draft");
    await put("notes.txt", "second draft, longer");
    const spoof = await put("invoice\u202Efdp.exe", "not a pdf");
    const { context, page } = await newPage();
    await signIn(page, "ivan");

    // A bidi override is shown escaped, so the name cannot pose as "invoiceexe.pdf".
    const spoofRow = page.locator(`tr[data-file-id="${spoof.fileId}"]`);
    expect(await spoofRow.locator(".file-name").textContent()).toBe("invoice\\u{202E}fdp.exe");
    await page.locator("#usage-text", { hasText: "used" }).waitFor();
    expect(await page.locator("#usage-text").textContent()).toBe(`${9 + 20} B used`);

    // Rename: a taken name is refused in the dialog, a free one moves the file.
    const row = page.locator(`tr[data-file-id="${notes.fileId}"]`);
    await row.getByRole("button", { name: "Rename notes.txt" }).click();
    const dialog = page.getByRole("dialog", { name: "Rename “notes.txt”" });
    await dialog.getByLabel("New name (use / for folders)").fill("invoice\u202Efdp.exe");
    await dialog.getByRole("button", { name: "Rename" }).click();
    await dialog.getByRole("alert").filter({ hasText: "Another file has that name" }).waitFor();
    await dialog.getByLabel("New name (use / for folders)").fill("drafts/notes.txt");
    await dialog.getByRole("button", { name: "Rename" }).click();
    await page.locator(`tr[data-file-id="${notes.fileId}"][data-name="drafts/notes.txt"]`).waitFor();

    // Versions: download version 1, restore it as version 3.
    await row.getByRole("button", { name: "Version 2 of drafts/notes.txt: show history" }).click();
    const v1 = page.locator('tr.versions-row li[data-version="1"]');
    const [download] = await Promise.all([page.waitForEvent("download"), v1.getByRole("button", { name: "Download version 1" }).click()]);
    expect(download.suggestedFilename()).toBe("notes.txt");
    expect(await readFile(await download.path(), "utf8")).toBe("first draft");
    await v1.getByRole("button", { name: "Restore version 1" }).click();
    await page.getByRole("status").filter({ hasText: "Restored version 1 of “drafts/notes.txt” as version 3." }).waitFor();
    await expect.poll(() => row.locator("td.version").textContent()).toBe("v3");
    expect(await (await api("ivan", `/v1/files/${notes.fileId}/content`)).text()).toBe("first draft");

    // Delete moves to the trash: undelete brings it back, delete forever purges it.
    await row.getByRole("button", { name: "Delete drafts/notes.txt" }).click();
    await page.getByRole("dialog", { name: "Delete “drafts/notes.txt”?" }).getByRole("button", { name: "Delete" }).click();
    await row.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Show trash" }).click();
    const trashed = page.locator(`#trash li[data-file-id="${notes.fileId}"]`);
    await trashed.waitFor();
    await expect.poll(() => page.locator("#usage-text").textContent()).toBe(`${9 + 11} B used · 11 B in the trash`);
    await trashed.getByRole("button", { name: "Undelete drafts/notes.txt" }).click();
    await row.waitFor();
    await trashed.waitFor({ state: "detached" });
    await row.getByRole("button", { name: "Delete drafts/notes.txt" }).click();
    await page.getByRole("dialog", { name: "Delete “drafts/notes.txt”?" }).getByRole("button", { name: "Delete" }).click();
    await trashed.getByRole("button", { name: "Delete drafts/notes.txt forever" }).click();
    await page.getByRole("dialog", { name: "Delete “drafts/notes.txt” forever?" }).getByRole("button", { name: "Delete forever" }).click();
    await page.locator("#trash", { hasText: "The trash is empty." }).waitFor();
    expect((await api("ivan", `/v1/trash/${notes.fileId}/undelete`, { method: "POST", body: "{}" })).status).toBe(404);
    await page.screenshot({ path: join(ARTIFACTS, "web-trash.png"), fullPage: true });
    await context.close();
    expect(pageErrors).toEqual([]);
  });

  it("shows each user only their own files", async () => {
    const mine = (await (await api("erin", "/v1/files?name=erin-only.txt", { method: "POST", body: "erin's", headers: { "content-type": "text/plain" } })).json()) as {
      file: { fileId: string };
    };
    const { context, page } = await newPage();
    await signIn(page, "frank");
    await page.getByRole("heading", { name: "No files yet" }).waitFor();
    expect(await page.locator('tr[data-name="erin-only.txt"]').count()).toBe(0);
    // Signing out and in as erin shows hers.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("User name").fill("erin");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator('tr[data-name="erin-only.txt"]').waitFor();
    // Another user's id answers like an unknown one.
    expect((await api("frank", `/v1/files/${mine.file.fileId}`)).status).toBe(404);
    await context.close();
    expect(pageErrors).toEqual([]);
  });

  it("signs in with Auth0 (authorization code with PKCE for the API's audience) and calls the API with its access token", async () => {
    // Auth0 played by routes in the browser; the access token comes from the dev issuer, which the stack trusts.
    const domain = "cfs-test.auth0.example";
    const clientId = "spaClientForTests";
    const { context, page } = await newPage();
    // An edge configured for Auth0 in front of the same services: its /config.json and its CSP name the tenant.
    const auth0Edge = await stack.startEdge({ webRoot, pageAuth: { mode: "auth0", domain, clientId, audience: stack.audience } });
    const pageUrl = `${auth0Edge.url}/`;
    let authorize: URL | undefined;
    let tokenRequest: URLSearchParams | undefined;
    let logout: URL | undefined;
    const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "*", "access-control-allow-methods": "POST" };
    await context.route(`https://${domain}/**`, async (route) => {
      const request = route.request();
      const url = new URL(request.url());
      if (request.method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
      if (url.pathname === "/authorize") {
        authorize = url;
        const back = new URL(url.searchParams.get("redirect_uri")!);
        back.searchParams.set("code", "test-code");
        back.searchParams.set("state", url.searchParams.get("state")!);
        return route.fulfill({ status: 302, headers: { location: back.href } });
      }
      if (url.pathname === "/oauth/token") {
        const body = request.postData() ?? "";
        tokenRequest = body.startsWith("{") ? new URLSearchParams(JSON.parse(body) as Record<string, string>) : new URLSearchParams(body);
        const now = Math.floor(Date.now() / 1000);
        const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
        // The SDK checks the ID token's claims; the signature is the server's business.
        const idToken = [
          part({ alg: "RS256", typ: "JWT" }),
          part({ iss: `https://${domain}/`, aud: clientId, sub: "auth0|henry", name: "Henry Example", nonce: authorize!.searchParams.get("nonce"), iat: now, exp: now + 3600 }),
          "c2lnbmF0dXJl",
        ].join(".");
        const accessToken = await stack.issuer!.userToken("auth0|henry");
        return route.fulfill({ headers: cors, json: { access_token: accessToken, id_token: idToken, token_type: "Bearer", expires_in: 3600, scope: "openid profile email" } });
      }
      if (url.pathname === "/v2/logout") {
        logout = url;
        return route.fulfill({ status: 200, contentType: "text/html", body: "<title>Signed out</title>" });
      }
      return route.fulfill({ status: 404 });
    });

    await page.goto(pageUrl);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("#user-name", { hasText: "Henry Example" }).waitFor();
    await page.getByRole("heading", { name: "No files yet" }).waitFor();
    expect(page.url()).toBe(pageUrl);

    const q = authorize!.searchParams;
    expect(Object.fromEntries(["response_type", "code_challenge_method", "client_id", "audience", "redirect_uri"].map((k) => [k, q.get(k)]))).toEqual({
      response_type: "code",
      code_challenge_method: "S256",
      client_id: clientId,
      audience: stack.audience,
      redirect_uri: pageUrl,
    });
    expect(q.get("scope")).toContain("openid");
    expect(tokenRequest!.get("grant_type")).toBe("authorization_code");
    expect(tokenRequest!.get("code")).toBe("test-code");
    // PKCE: the verifier sent with the code hashes to the challenge sent with the login.
    expect(createHash("sha256").update(tokenRequest!.get("code_verifier")!).digest("base64url")).toBe(q.get("code_challenge"));

    // The page calls the API with the access token: an upload lands under the token's user.
    await page.locator("#file-input").setInputFiles({ name: "henry.txt", mimeType: "text/plain", buffer: Buffer.from("via Auth0") });
    await page.locator('tr[data-name="henry.txt"]').waitFor();
    const listed = (await (await api("auth0|henry", "/v1/files")).json()) as { files: Array<{ name: string }> };
    expect(listed.files.map((f) => f.name)).toEqual(["henry.txt"]);

    await page.getByRole("button", { name: "Sign out" }).click();
    await expect.poll(() => logout?.searchParams.get("client_id")).toBe(clientId);
    expect(logout!.searchParams.get("returnTo")).toBe(pageUrl);
    await context.close();
    await auth0Edge.close();
    expect(pageErrors).toEqual([]);
  });

  it("pages through more files than fit on a page", async () => {
    const names = Array.from({ length: 53 }, (_, i) => `page-${String(i).padStart(2, "0")}.txt`);
    for (const name of names) {
      const res = await api("gina", `/v1/files?name=${name}`, { method: "POST", body: name, headers: { "content-type": "text/plain" } });
      expect(res.status).toBe(200);
    }
    const { context, page } = await newPage();
    await signIn(page, "gina");
    const rows = page.locator("table.files tbody tr[data-file-id]");
    await expect.poll(() => rows.count()).toBe(50);
    expect(await rows.first().getAttribute("data-name")).toBe("page-00.txt");
    expect(await page.getByRole("button", { name: "← Previous" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "Next →" }).click();
    await expect.poll(() => rows.count()).toBe(3);
    expect(await rows.first().getAttribute("data-name")).toBe("page-50.txt");
    await page.locator(".page-label", { hasText: "Page 2 · 3 files" }).waitFor();
    expect(await page.getByRole("button", { name: "Next →" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "← Previous" }).click();
    await expect.poll(() => rows.count()).toBe(50);

    // The filter asks the server for names with that prefix.
    await page.getByLabel("Filter by name").fill("page-5");
    await expect.poll(() => rows.count()).toBe(3);
    await page.getByLabel("Filter by name").fill("nothing-");
    await page.getByRole("heading", { name: "No matching files" }).waitFor();
    await context.close();
    expect(pageErrors).toEqual([]);
  });
  it("creates an app password, shows it once with the user name, lists it and revokes it", async () => {
    const { context, page } = await newPage();
    await signIn(page, "henry");
    await page.getByRole("heading", { name: "App passwords" }).waitFor();
    await page.locator("#app-password-list", { hasText: "No app passwords yet." }).waitFor();
    await page.getByLabel("Label").fill("laptop Finder");
    await page.getByRole("button", { name: "Create app password" }).click();
    const secret = (await page.locator("#app-password-secret").textContent())!;
    expect(secret).toMatch(/^[a-z2-7]{8}(-[a-z2-7]{8}){3}$/);
    expect(await page.locator("#app-password-username").textContent()).toBe("henry");
    const item = page.locator("#app-password-list li", { hasText: "laptop Finder" });
    await item.locator(".meta", { hasText: "never used" }).waitFor();
    const listed = (await (await api("henry", "/v1/app-passwords")).json()) as { appPasswords: Array<{ id: string; label: string }> };
    expect(listed.appPasswords.map((p) => p.label)).toEqual(["laptop Finder"]);
    expect(await page.content()).toContain(secret);
    await item.getByRole("button", { name: "Revoke" }).click();
    await page.locator("#app-password-list", { hasText: "No app passwords yet." }).waitFor();
    expect(((await (await api("henry", "/v1/app-passwords")).json()) as { appPasswords: unknown[] }).appPasswords).toEqual([]);
    await page.screenshot({ path: join(ARTIFACTS, "web-app-passwords.png"), fullPage: true });
    await context.close();
  });
});

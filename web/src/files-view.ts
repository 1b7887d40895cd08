import { displayName } from "#lib/display-name.js";
import { Api, ApiError, type FileInfo, type Upload, type UsageInfo } from "./api.js";
import type { Session } from "./auth.js";
import { announce, append, clear, h } from "./dom.js";
import { formatBytes } from "#lib/bytes.js";
import { plural, SYNC_LABELS, syncSettled, type SyncState } from "./format.js";

/**
 * The signed-in page: the user's files a page at a time (size, date,
 * version, sync status), uploads with a progress bar each (picker or
 * drag-and-drop), download, rename, versions with download and restore,
 * delete to the trash with confirmation, the trash with undelete and purge,
 * a usage bar, and empty and error states that say what to do. Names are
 * shown through displayName: invisible and reordering characters escaped.
 */

const PAGE_SIZE = 50;
const UPLOADS_AT_ONCE = 2;
const SYNC_CHECKS_AT_ONCE = 4;
const SYNC_POLL_MAX_MS = 15_000;
const SYNC_POLL_ATTEMPTS = 20;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

type UploadState = "waiting" | "uploading" | "saving" | "done" | "error" | "cancelled";

interface UploadItem {
  file: File;
  name: string;
  state: UploadState;
  upload?: Upload;
  el: HTMLLIElement;
  progress: HTMLProgressElement;
  percent: HTMLSpanElement;
  status: HTMLSpanElement;
  action: HTMLButtonElement;
}

export interface FilesViewOptions {
  session: Session;
  apiBaseUrl: string;
  /** The session can no longer get tokens the API accepts. */
  onSessionEnded(message: string): void;
}

export function mountFilesView(root: HTMLElement, options: FilesViewOptions): () => void {
  const api = new Api(options.apiBaseUrl, () => options.session.token());
  const pageTokens: string[] = [""];
  let pageIndex = 0;
  let prefix = "";
  let nextPageToken = "";
  let listGeneration = 0;
  let listAbort = new AbortController();
  const uploads: UploadItem[] = [];
  let activeUploads = 0;

  // ---- skeleton ------------------------------------------------------------------------

  const fileInput = h("input", { type: "file", multiple: true, id: "file-input", class: "visually-hidden", tabindex: -1, "aria-hidden": "true" });
  const uploadButton = h("button", { type: "button", class: "button primary", id: "upload-button" }, "Upload files");
  const refreshButton = h("button", { type: "button", class: "button" }, "Refresh");
  const filterInput = h("input", {
    type: "search",
    id: "filter",
    name: "prefix",
    placeholder: "Name starts with…",
    autocomplete: "off",
    spellcheck: "false",
  });
  const uploadList = h("ul", { class: "uploads", id: "uploads", "aria-label": "Uploads" });
  const notices = h("div", { class: "notices", id: "notices" });
  const listArea = h("div", { class: "list-area", id: "file-list", "aria-busy": "true" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages of files", hidden: true });
  const dropOverlay = h("div", { class: "drop-overlay", hidden: true, "aria-hidden": "true" }, h("p", {}, "Drop files to upload them"));
  const dialog = h("dialog", { class: "confirm", id: "confirm-delete", "aria-labelledby": "confirm-title" });
  const usageMeter = h("progress", { id: "usage-bar", max: 1, value: 0, "aria-labelledby": "usage-text" });
  const usageText = h("span", { id: "usage-text" }, "");
  const usageArea = h("div", { class: "usage", id: "usage", hidden: true }, usageMeter, usageText);
  const trashToggle = h("button", { type: "button", class: "button", id: "trash-toggle", "aria-expanded": "false", "aria-controls": "trash" }, "Show trash");
  const trashArea = h("div", { class: "trash", id: "trash", hidden: true, "aria-busy": "false" });

  append(
    root,
    h(
      "section",
      { class: "files-view", "aria-labelledby": "files-title" },
      h(
        "div",
        { class: "toolbar" },
        h("h1", { id: "files-title" }, "Your files"),
        h("div", { class: "toolbar-actions" }, uploadButton, refreshButton, fileInput),
      ),
      usageArea,
      h(
        "form",
        { class: "filter", role: "search", onsubmit: ((e: Event) => e.preventDefault()) as EventListener },
        h("label", { for: "filter" }, "Filter by name"),
        filterInput,
      ),
      h("p", { class: "hint" }, "Choose files with Upload files, or drop them anywhere on this page. Uploading a name that exists adds a new version."),
      notices,
      uploadList,
      listArea,
      pager,
      h("div", { class: "trash-toolbar" }, h("h2", { id: "trash-title" }, "Trash"), trashToggle),
      trashArea,
    ),
    dialog,
    dropOverlay,
  );

  // ---- notices -------------------------------------------------------------------------

  const notify = (message: string, kind: "error" | "info" = "error") => {
    const close = h("button", { type: "button", class: "icon-button", "aria-label": "Dismiss" }, "×");
    const notice = h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, h("p", {}, message), close);
    close.addEventListener("click", () => notice.remove());
    notices.prepend(notice);
    while (notices.children.length > 3) notices.lastElementChild?.remove();
  };

  /** 401 ends the session; everything else is told where it happened. */
  const handleError = (err: unknown, context: string): string => {
    if (err instanceof ApiError && err.status === 401) {
      options.onSessionEnded("Your session has ended. Sign in again.");
      return "";
    }
    return `${context}: ${err instanceof Error ? err.message : String(err)}`;
  };

  // ---- the list ------------------------------------------------------------------------

  const load = async (focusList = false) => {
    listAbort.abort();
    listAbort = new AbortController();
    const signal = listAbort.signal;
    const generation = ++listGeneration;
    listArea.setAttribute("aria-busy", "true");
    try {
      const page = await api.listFiles({ pageSize: PAGE_SIZE, pageToken: pageTokens[pageIndex], prefix }, signal);
      if (generation !== listGeneration) return;
      if (page.files.length === 0 && pageIndex > 0) {
        // The last file of a later page went away: show the page before.
        pageTokens.length = pageIndex;
        pageIndex -= 1;
        return load(focusList);
      }
      nextPageToken = page.nextPageToken;
      renderList(page.files, signal);
      void loadUsage(signal);
      if (!trashArea.hidden) void loadTrash();
      if (focusList) listArea.querySelector<HTMLElement>("table")?.focus();
    } catch (err) {
      if (signal.aborted || generation !== listGeneration) return;
      const message = handleError(err, "Could not load your files");
      if (message) renderListError(err);
    } finally {
      if (generation === listGeneration) listArea.setAttribute("aria-busy", "false");
    }
  };

  const renderListError = (err: unknown) => {
    clear(listArea);
    pager.hidden = true;
    const retry = h("button", { type: "button", class: "button" }, "Try again");
    retry.addEventListener("click", () => void load());
    append(
      listArea,
      h(
        "div",
        { class: "state error-state", role: "alert" },
        h("h2", {}, "Could not load your files"),
        h("p", {}, err instanceof Error ? err.message : String(err)),
        retry,
      ),
    );
  };

  const renderList = (files: FileInfo[], signal: AbortSignal) => {
    clear(listArea);
    if (files.length === 0) {
      pager.hidden = true;
      const empty = prefix
        ? h(
            "div",
            { class: "state empty-state", role: "status" },
            h("h2", {}, "No matching files"),
            h("p", {}, `None of your files has a name starting with “${prefix}”.`),
            h("button", { type: "button", class: "button", onclick: (() => setPrefix("")) as EventListener }, "Clear the filter"),
          )
        : h(
            "div",
            { class: "state empty-state", role: "status" },
            h("h2", {}, "No files yet"),
            h("p", {}, "Upload your first file with Upload files, or drop files onto this page."),
          );
      listArea.appendChild(empty);
      return;
    }
    const tbody = h("tbody");
    const table = h(
      "table",
      { class: "files", tabindex: -1 },
      h("caption", { class: "visually-hidden" }, `Your files, page ${pageIndex + 1}`),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", { scope: "col" }, "Name"),
          h("th", { scope: "col", class: "num" }, "Size"),
          h("th", { scope: "col" }, "Modified"),
          h("th", { scope: "col" }, "Version"),
          h("th", { scope: "col" }, "Sync"),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")),
        ),
      ),
      tbody,
    );
    const syncCells: Array<{ file: FileInfo; cell: HTMLElement }> = [];
    for (const file of files) {
      const row = renderRow(file);
      tbody.appendChild(row.tr);
      syncCells.push({ file, cell: row.sync });
    }
    listArea.appendChild(table);
    renderPager(files.length);
    void watchSync(syncCells, signal);
  };

  const renderRow = (file: FileInfo) => {
    const modified = file.updatedAt ?? file.createdAt;
    const sync = h("span", { class: "badge", "data-state": "unknown" }, "…");
    const versionButton = h(
      "button",
      { type: "button", class: "link", "aria-expanded": "false", "aria-label": `Version ${file.version} of ${displayName(file.name)}: show history` },
      `v${file.version}`,
    );
    const shown = displayName(file.name);
    const download = h("button", { type: "button", class: "button small", "aria-label": `Download ${shown}` }, "Download");
    const renameButton = h("button", { type: "button", class: "button small", "aria-label": `Rename ${shown}` }, "Rename");
    const remove = h("button", { type: "button", class: "button small danger", "aria-label": `Delete ${shown}` }, "Delete");
    const tr = h(
      "tr",
      { "data-file-id": file.fileId, "data-name": file.name },
      h("td", { class: "name", "data-label": "Name" }, h("span", { class: "file-name", title: shown }, shown)),
      h("td", { class: "num size", "data-label": "Size", "data-bytes": file.size, title: `${file.size.toLocaleString()} bytes` }, formatBytes(file.size)),
      h(
        "td",
        { class: "modified", "data-label": "Modified" },
        modified ? h("time", { datetime: modified.toISOString() }, dateFormat.format(modified)) : "—",
      ),
      h("td", { class: "version", "data-label": "Version" }, versionButton),
      h("td", { class: "sync", "data-label": "Sync" }, sync),
      h("td", { class: "actions" }, download, renameButton, remove),
    );
    versionButton.addEventListener("click", () => void toggleVersions(file, tr, versionButton));
    download.addEventListener("click", () => void downloadFile(file, download));
    renameButton.addEventListener("click", () => askRename(file));
    remove.addEventListener("click", () => confirmDelete(file));
    return { tr, sync };
  };

  const toggleVersions = async (file: FileInfo, tr: HTMLTableRowElement, button: HTMLButtonElement) => {
    const existing = tr.nextElementSibling;
    if (existing?.classList.contains("versions-row")) {
      existing.remove();
      button.setAttribute("aria-expanded", "false");
      return;
    }
    button.setAttribute("aria-expanded", "true");
    const cell = h("td", { colspan: 6 }, h("p", { role: "status" }, "Loading versions…"));
    const row = h("tr", { class: "versions-row" }, cell);
    tr.after(row);
    try {
      const versions = await api.listVersions(file.fileId);
      clear(cell);
      append(
        cell,
        h("h3", { class: "versions-title" }, `${plural(versions.length, "version")} of ${displayName(file.name)}`),
        h(
          "ol",
          { class: "versions", reversed: true },
          ...versions.map((v) => {
            const get = h("button", { type: "button", class: "button small", "aria-label": `Download version ${v.version}` }, "Download");
            get.addEventListener("click", () => void downloadFile(file, get, v.version));
            const restore =
              v.version !== file.version &&
              h("button", { type: "button", class: "button small", "aria-label": `Restore version ${v.version}` }, "Restore");
            if (restore) restore.addEventListener("click", () => void restoreVersion(file, v.version, restore));
            return h(
              "li",
              { "data-version": v.version },
              h("strong", {}, `v${v.version}`),
              ` · ${formatBytes(v.size)} · `,
              v.createdAt ? h("time", { datetime: v.createdAt.toISOString() }, dateFormat.format(v.createdAt)) : "—",
              h("code", { class: "hash", title: "SHA-256" }, v.sha256.slice(0, 12)),
              h("span", { class: "version-actions" }, get, restore),
            );
          }),
        ),
      );
    } catch (err) {
      clear(cell);
      const message = handleError(err, "Could not load the versions");
      if (message) cell.appendChild(h("p", { class: "error-text", role: "alert" }, message));
    }
  };

  const renderPager = (count: number) => {
    clear(pager);
    const hasPrevious = pageIndex > 0;
    const hasNext = nextPageToken !== "";
    pager.hidden = !hasPrevious && !hasNext;
    const previous = h("button", { type: "button", class: "button", disabled: !hasPrevious }, "← Previous");
    const next = h("button", { type: "button", class: "button", disabled: !hasNext }, "Next →");
    previous.addEventListener("click", () => {
      pageIndex -= 1;
      void load(true);
    });
    next.addEventListener("click", () => {
      pageTokens[pageIndex + 1] = nextPageToken;
      pageTokens.length = pageIndex + 2;
      pageIndex += 1;
      void load(true);
    });
    append(pager, previous, h("span", { class: "page-label" }, `Page ${pageIndex + 1} · ${plural(count, "file")}`), next);
  };

  // ---- sync status ---------------------------------------------------------------------

  const setSync = (cell: HTMLElement, state: SyncState, message = "") => {
    cell.dataset.state = state;
    cell.textContent = SYNC_LABELS[state];
    if (message) cell.title = message;
    else cell.removeAttribute("title");
  };

  /** Asks for each file's sync state, again with backoff while it is not settled. */
  const watchSync = async (cells: Array<{ file: FileInfo; cell: HTMLElement }>, signal: AbortSignal) => {
    let queue = cells.map((c) => ({ ...c, attempts: 0 }));
    while (queue.length > 0 && !signal.aborted) {
      const next: typeof queue = [];
      for (let i = 0; i < queue.length && !signal.aborted; i += SYNC_CHECKS_AT_ONCE) {
        await Promise.all(
          queue.slice(i, i + SYNC_CHECKS_AT_ONCE).map(async (item) => {
            try {
              const status = await api.syncStatus(item.file.fileId, signal);
              setSync(item.cell, status.state, status.message);
              if (!syncSettled(status.state) && item.attempts + 1 < SYNC_POLL_ATTEMPTS) next.push({ ...item, attempts: item.attempts + 1 });
            } catch (err) {
              if (signal.aborted) return;
              if (err instanceof ApiError && err.status === 401) return void handleError(err, "");
              setSync(item.cell, "unknown", err instanceof Error ? err.message : "");
            }
          }),
        );
      }
      queue = next;
      if (queue.length === 0) break;
      const attempt = Math.min(...queue.map((q) => q.attempts));
      await sleep(Math.min(SYNC_POLL_MAX_MS, 500 * 2 ** attempt), signal);
    }
  };

  // ---- download and delete -------------------------------------------------------------

  const downloadFile = async (file: FileInfo, button: HTMLButtonElement, version?: number) => {
    button.disabled = true;
    button.textContent = "Downloading…";
    try {
      const blob = await api.download(file.fileId, version);
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: file.name.split("/").pop() || "download", hidden: true });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      announce(`Downloaded ${displayName(file.name)}`);
    } catch (err) {
      const message = handleError(err, `Could not download “${displayName(file.name)}”`);
      if (message) notify(message);
    } finally {
      button.disabled = false;
      button.textContent = "Download";
    }
  };

  const confirmDelete = (file: FileInfo) => {
    clear(dialog);
    const cancel = h("button", { type: "submit", value: "cancel", class: "button" }, "Cancel");
    const confirm = h("button", { type: "submit", value: "delete", class: "button danger" }, "Delete");
    append(
      dialog,
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "confirm-title" }, `Delete “${displayName(file.name)}”?`),
        h("p", {}, "The file moves to the trash, with its versions: undelete it there, or delete it forever. The trash is emptied after a while."),
        h("div", { class: "dialog-actions" }, cancel, confirm),
      ),
    );
    dialog.onclose = () => {
      if (dialog.returnValue === "delete") void deleteFile(file);
    };
    dialog.returnValue = "";
    dialog.showModal();
    cancel.focus();
  };

  const deleteFile = async (file: FileInfo) => {
    const row = listArea.querySelector<HTMLTableRowElement>(`tr[data-file-id="${CSS.escape(file.fileId)}"]`);
    row?.classList.add("deleting");
    try {
      await api.deleteFile(file.fileId);
      announce(`Moved ${displayName(file.name)} to the trash`);
      notify(`Moved “${displayName(file.name)}” to the trash.`, "info");
    } catch (err) {
      row?.classList.remove("deleting");
      const message = handleError(err, `Could not delete “${displayName(file.name)}”`);
      if (message) notify(message);
    }
    await load();
  };

  // ---- rename and restore ----------------------------------------------------------------

  const askRename = (file: FileInfo) => {
    clear(dialog);
    const input = h("input", { type: "text", id: "rename-input", name: "name", value: file.name, required: true, autocomplete: "off", spellcheck: "false" });
    const error = h("p", { class: "error-text", role: "alert", hidden: true });
    const cancel = h("button", { type: "button", class: "button" }, "Cancel");
    const save = h("button", { type: "submit", class: "button primary" }, "Rename");
    const form = h(
      "form",
      {},
      h("h2", { id: "confirm-title" }, `Rename “${displayName(file.name)}”`),
      h("label", { for: "rename-input" }, "New name (use / for folders)"),
      input,
      error,
      h("div", { class: "dialog-actions" }, cancel, save),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      save.disabled = true;
      api.moveFile(file.fileId, input.value).then(
        (moved) => {
          dialog.close();
          announce(`Renamed to ${displayName(moved.name)}`);
          void load();
        },
        (err: unknown) => {
          save.disabled = false;
          const message = handleError(err, "Could not rename");
          if (!message) return dialog.close();
          error.textContent = err instanceof ApiError && err.status === 409 ? "Another file has that name. Choose another one." : message;
          error.hidden = false;
        },
      );
    });
    cancel.addEventListener("click", () => dialog.close());
    append(dialog, form);
    dialog.onclose = null;
    dialog.showModal();
    input.select();
  };

  const restoreVersion = async (file: FileInfo, version: number, button: HTMLButtonElement) => {
    button.disabled = true;
    try {
      const restored = await api.restoreVersion(file.fileId, version);
      notify(`Restored version ${version} of “${displayName(file.name)}” as version ${restored.version}.`, "info");
      announce(`Restored version ${version}`);
      await load();
    } catch (err) {
      button.disabled = false;
      const message = handleError(err, `Could not restore version ${version}`);
      if (message) notify(message);
    }
  };

  // ---- usage ---------------------------------------------------------------------------

  const renderUsage = (usage: UsageInfo) => {
    usageArea.hidden = false;
    const trash = usage.trashBytes > 0 ? ` · ${formatBytes(usage.trashBytes)} in the trash` : "";
    if (usage.quotaBytes > 0) {
      usageMeter.hidden = false;
      usageMeter.max = usage.quotaBytes;
      usageMeter.value = Math.min(usage.usedBytes, usage.quotaBytes);
      usageArea.dataset.full = String(usage.usedBytes >= usage.quotaBytes);
      usageText.textContent = `${formatBytes(usage.usedBytes)} of ${formatBytes(usage.quotaBytes)} used${trash}`;
    } else {
      usageMeter.hidden = true;
      usageText.textContent = `${formatBytes(usage.usedBytes)} used${trash}`;
    }
  };

  const loadUsage = async (signal: AbortSignal) => {
    try {
      renderUsage(await api.usage(signal));
    } catch {
      // The list says what is wrong; the bar just stays as it was.
    }
  };

  // ---- trash ---------------------------------------------------------------------------

  const loadTrash = async () => {
    trashArea.setAttribute("aria-busy", "true");
    try {
      const { files } = await api.listTrash();
      clear(trashArea);
      if (files.length === 0) {
        trashArea.appendChild(h("p", { class: "state empty-state", role: "status" }, "The trash is empty."));
        return;
      }
      const list = h("ul", { class: "trash-list", "aria-labelledby": "trash-title" });
      for (const file of files) {
        const shown = displayName(file.name);
        const undelete = h("button", { type: "button", class: "button small", "aria-label": `Undelete ${shown}` }, "Undelete");
        const purge = h("button", { type: "button", class: "button small danger", "aria-label": `Delete ${shown} forever` }, "Delete forever");
        undelete.addEventListener("click", () => void undeleteFile(file, undelete));
        purge.addEventListener("click", () => confirmPurge(file));
        list.appendChild(
          h(
            "li",
            { "data-file-id": file.fileId, "data-name": file.name },
            h("span", { class: "file-name", title: shown }, shown),
            h("span", { class: "meta" }, ` · ${formatBytes(file.size)} · deleted `, file.deletedAt ? h("time", { datetime: file.deletedAt.toISOString() }, dateFormat.format(file.deletedAt)) : "—"),
            h("span", { class: "trash-actions" }, undelete, purge),
          ),
        );
      }
      trashArea.appendChild(list);
    } catch (err) {
      clear(trashArea);
      const message = handleError(err, "Could not load the trash");
      if (message) trashArea.appendChild(h("p", { class: "error-text", role: "alert" }, message));
    } finally {
      trashArea.setAttribute("aria-busy", "false");
    }
  };

  const undeleteFile = async (file: FileInfo, button: HTMLButtonElement) => {
    button.disabled = true;
    try {
      await api.undeleteFile(file.fileId);
      notify(`Restored “${displayName(file.name)}” from the trash.`, "info");
    } catch (err) {
      button.disabled = false;
      const message =
        err instanceof ApiError && err.status === 409
          ? `Another file is named “${displayName(file.name)}” now: rename it first, then undelete this one.`
          : handleError(err, `Could not undelete “${displayName(file.name)}”`);
      if (message) notify(message);
    }
    await load();
  };

  const confirmPurge = (file: FileInfo) => {
    clear(dialog);
    const cancel = h("button", { type: "submit", value: "cancel", class: "button" }, "Cancel");
    const confirm = h("button", { type: "submit", value: "purge", class: "button danger" }, "Delete forever");
    append(
      dialog,
      h(
        "form",
        { method: "dialog" },
        h("h2", { id: "confirm-title" }, `Delete “${displayName(file.name)}” forever?`),
        h("p", {}, "The file and all its versions are deleted for good. This cannot be undone."),
        h("div", { class: "dialog-actions" }, cancel, confirm),
      ),
    );
    dialog.onclose = () => {
      if (dialog.returnValue !== "purge") return;
      void api.purgeFile(file.fileId).then(
        () => announce(`Deleted ${displayName(file.name)} forever`),
        (err: unknown) => {
          const message = handleError(err, `Could not delete “${displayName(file.name)}”`);
          if (message) notify(message);
        },
      ).finally(() => void load());
    };
    dialog.returnValue = "";
    dialog.showModal();
    cancel.focus();
  };

  trashToggle.addEventListener("click", () => {
    const show = trashArea.hidden;
    trashArea.hidden = !show;
    trashToggle.setAttribute("aria-expanded", String(show));
    trashToggle.textContent = show ? "Hide trash" : "Show trash";
    if (show) void loadTrash();
  });

  // ---- uploads -------------------------------------------------------------------------

  const setUploadState = (item: UploadItem, state: UploadState, text: string) => {
    item.state = state;
    item.el.dataset.state = state;
    item.status.textContent = text;
    item.action.textContent = state === "waiting" || state === "uploading" ? "Cancel" : "Dismiss";
    item.action.setAttribute("aria-label", `${item.action.textContent} upload of ${item.name}`);
  };

  const setProgress = (item: UploadItem, percent: number) => {
    const value = Math.max(0, Math.min(100, Math.floor(percent)));
    // The content attribute (the value property reflects it), so that observers of the DOM see each step.
    item.progress.setAttribute("value", String(value));
    item.percent.textContent = `${value}%`;
  };

  const enqueue = (files: Iterable<File>) => {
    let added = 0;
    for (const file of files) {
      const progress = h("progress", { max: 100, value: 0, "aria-label": `Upload of ${file.name}` });
      const percent = h("span", { class: "upload-percent", "aria-hidden": "true" }, "0%");
      const status = h("span", { class: "upload-status" });
      const action = h("button", { type: "button", class: "button small" });
      const el = h(
        "li",
        { class: "upload", "data-name": file.name },
        h("span", { class: "upload-name", title: displayName(file.name) }, displayName(file.name), h("span", { class: "upload-size" }, ` · ${formatBytes(file.size)}`)),
        h("span", { class: "upload-bar" }, progress, percent),
        status,
        action,
      );
      const item: UploadItem = { file, name: file.name, state: "waiting", el, progress, percent, status, action };
      action.addEventListener("click", () => {
        if (item.state === "waiting") {
          setUploadState(item, "cancelled", "Cancelled");
          el.remove();
        } else if (item.state === "uploading") {
          item.upload?.abort();
        } else {
          el.remove();
        }
      });
      setUploadState(item, "waiting", "Waiting");
      uploadList.appendChild(el);
      uploads.push(item);
      added++;
    }
    if (added > 0) announce(`${plural(added, "file")} queued for upload`);
    pump();
  };

  const pump = () => {
    while (activeUploads < UPLOADS_AT_ONCE) {
      const item = uploads.find((u) => u.state === "waiting");
      if (!item) return;
      activeUploads++;
      void runUpload(item).finally(() => {
        activeUploads--;
        pump();
      });
    }
  };

  const runUpload = async (item: UploadItem) => {
    setUploadState(item, "uploading", "Uploading…");
    setProgress(item, 0);
    item.upload = api.upload(item.file, item.name, (p) => {
      if (item.state !== "uploading" && item.state !== "saving") return;
      if (p.phase === "saving") {
        setProgress(item, 100);
        setUploadState(item, "saving", "Saving…");
      } else {
        // The bar shows what travels; reading the file to find what changed is told in words.
        if (p.phase === "hashing") {
          item.status.textContent = `Finding what changed… ${p.total > 0 ? Math.floor((p.loaded / p.total) * 100) : 100}%`;
          return;
        }
        item.status.textContent = p.storedBytes > 0 ? `Uploading… ${formatBytes(p.storedBytes)} already stored` : "Uploading…";
        setProgress(item, p.total > 0 ? (p.loaded / p.total) * 100 : 0);
      }
    });
    try {
      const { file, sentBytes, storedBytes } = await item.upload.done;
      setProgress(item, 100);
      const saved = `${formatBytes(sentBytes)} sent, ${formatBytes(storedBytes)} already stored`;
      setUploadState(item, "done", file.version > 1 ? `Uploaded as version ${file.version} · ${saved}` : `Uploaded · ${saved}`);
      announce(`Uploaded ${item.name}`);
      void load();
      setTimeout(() => {
        if (item.state === "done") item.el.remove();
      }, 8000);
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") {
        setUploadState(item, "cancelled", "Cancelled");
        return;
      }
      const message = handleError(err, "Upload failed");
      setUploadState(item, "error", message || "Upload failed: sign in again.");
      item.status.setAttribute("role", "alert");
    }
  };

  // ---- events --------------------------------------------------------------------------

  uploadButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    if (fileInput.files) enqueue(Array.from(fileInput.files));
    fileInput.value = "";
  });
  refreshButton.addEventListener("click", () => void load());

  let filterTimer: ReturnType<typeof setTimeout> | undefined;
  const setPrefix = (value: string) => {
    filterInput.value = value;
    prefix = value;
    pageTokens.length = 1;
    pageIndex = 0;
    void load();
  };
  filterInput.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => setPrefix(filterInput.value), 250);
  });

  // Drag and drop anywhere on the page.
  let dragDepth = 0;
  const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes("Files");
  const onDragEnter = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth++;
    dropOverlay.hidden = false;
  };
  const onDragOver = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
  };
  const onDragLeave = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0) dropOverlay.hidden = true;
  };
  const onDrop = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth = 0;
    dropOverlay.hidden = true;
    const files: File[] = [];
    let folders = 0;
    const items = Array.from(e.dataTransfer?.items ?? []);
    if (items.length > 0) {
      for (const item of items) {
        if (item.kind !== "file") continue;
        if (item.webkitGetAsEntry?.()?.isDirectory) {
          folders++;
          continue;
        }
        const file = item.getAsFile();
        if (file) files.push(file);
      }
    } else {
      files.push(...Array.from(e.dataTransfer?.files ?? []));
    }
    if (folders > 0) notify(`${plural(folders, "folder")} skipped: drop the files inside a folder, not the folder itself.`);
    enqueue(files);
  };
  document.addEventListener("dragenter", onDragEnter);
  document.addEventListener("dragover", onDragOver);
  document.addEventListener("dragleave", onDragLeave);
  document.addEventListener("drop", onDrop);

  void load();

  return () => {
    listAbort.abort();
    for (const item of uploads) item.upload?.abort();
    document.removeEventListener("dragenter", onDragEnter);
    document.removeEventListener("dragover", onDragOver);
    document.removeEventListener("dragleave", onDragLeave);
    document.removeEventListener("drop", onDrop);
    clear(root);
    dropOverlay.remove();
    dialog.remove();
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

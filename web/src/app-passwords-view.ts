import { Api, ApiError, type AppPasswordInfo } from "./api.js";
import type { Session } from "./auth.js";
import { announce, append, clear, h } from "./dom.js";

/**
 * "App passwords" on the signed-in page: passwords for WebDAV clients
 * (Finder, Explorer, davfs2, rclone) that cannot sign in themselves. A new
 * one is shown once with the user name and the WebDAV address to use; the
 * list shows labels and last use, each with Revoke.
 */
export interface AppPasswordsViewOptions {
  session: Session;
  apiBaseUrl: string;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function mountAppPasswordsView(root: HTMLElement, options: AppPasswordsViewOptions): () => void {
  const api = new Api(options.apiBaseUrl, () => options.session.token());
  const davUrl = new URL("/dav/", options.apiBaseUrl || window.location.origin).toString();
  const labelInput = h("input", { type: "text", id: "app-password-label", name: "label", maxlength: 100, required: true, autocomplete: "off", placeholder: "e.g. laptop Finder" });
  const createButton = h("button", { type: "submit", class: "button primary", id: "app-password-create" }, "Create app password");
  const created = h("div", { class: "notice", id: "app-password-created", role: "status", hidden: true });
  const error = h("p", { class: "notice error", id: "app-password-error", role: "alert", hidden: true });
  const list = h("ul", { class: "app-passwords", id: "app-password-list", "aria-label": "Your app passwords" });
  const form = h("form", { class: "toolbar", id: "app-password-form" }, h("label", { for: "app-password-label" }, "Label "), labelInput, createButton);
  const section = h(
    "section",
    { class: "app-passwords-view", "aria-labelledby": "app-passwords-title" },
    h("h2", { id: "app-passwords-title" }, "App passwords"),
    h("p", {}, "For WebDAV clients that cannot sign in (Finder, Explorer, davfs2, rclone): connect to ", h("code", {}, davUrl), " with your user name and an app password."),
    form,
    created,
    error,
    list,
  );
  append(root, section);

  const showError = (err: unknown) => {
    error.textContent = err instanceof ApiError ? err.message : "Something went wrong.";
    error.hidden = false;
  };

  const render = (passwords: AppPasswordInfo[]) => {
    clear(list);
    if (passwords.length === 0) append(list, h("li", { class: "empty" }, "No app passwords yet."));
    for (const p of passwords) {
      const revoke = h("button", { type: "button", class: "button small danger" }, "Revoke");
      revoke.addEventListener("click", () => {
        revoke.disabled = true;
        api.revokeAppPassword(p.id).then(
          () => {
            announce(`App password “${p.label}” revoked`);
            void refresh();
          },
          (err: unknown) => {
            revoke.disabled = false;
            showError(err);
          },
        );
      });
      const used = p.lastUsedAt ? `last used ${dateFormat.format(p.lastUsedAt)}` : "never used";
      const createdAt = p.createdAt ? `created ${dateFormat.format(p.createdAt)}` : "";
      append(list, h("li", { "data-id": p.id }, h("strong", { class: "label" }, p.label), " ", h("span", { class: "meta" }, [createdAt, used].filter(Boolean).join(", ")), " ", revoke));
    }
  };

  const refresh = async () => {
    try {
      render(await api.listAppPasswords());
      error.hidden = true;
    } catch (err) {
      showError(err);
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const label = labelInput.value.trim();
    if (!label) return;
    createButton.disabled = true;
    api.createAppPassword(label).then(
      (made) => {
        createButton.disabled = false;
        labelInput.value = "";
        error.hidden = true;
        clear(created);
        append(
          created,
          h("p", {}, "Copy this password now: it is shown only once."),
          h("dl", {}, h("dt", {}, "User name"), h("dd", {}, h("code", { id: "app-password-username" }, made.username)), h("dt", {}, "Password"), h("dd", {}, h("code", { id: "app-password-secret" }, made.secret))),
        );
        created.hidden = false;
        announce("App password created: copy it now, it is shown only once");
        void refresh();
      },
      (err: unknown) => {
        createButton.disabled = false;
        showError(err);
      },
    );
  });

  void refresh();
  return () => section.remove();
}

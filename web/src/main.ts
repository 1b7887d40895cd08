import "./styles.css";
import { createAuthenticator, DEV_USER_PATTERN, SignInError, type Authenticator, type Session } from "./auth.js";
import { loadConfig, type PageConfig } from "./config.js";
import { announce, append, clear, h } from "./dom.js";
import { mountAppPasswordsView } from "./app-passwords-view.js";
import { mountFilesView } from "./files-view.js";

const main = document.getElementById("main") as HTMLElement;
const account = document.getElementById("account") as HTMLElement;
document.body.appendChild(h("div", { id: "announcer", class: "visually-hidden", "aria-live": "polite" }));

let unmount: (() => void) | undefined;

function reset(): void {
  unmount?.();
  unmount = undefined;
  clear(main);
  clear(account);
  account.hidden = true;
}

function showFatal(title: string, message: string): void {
  reset();
  const reload = h("button", { type: "button", class: "button" }, "Reload");
  reload.addEventListener("click", () => location.reload());
  append(main, h("section", { class: "card state error-state", role: "alert" }, h("h1", {}, title), h("p", {}, message), reload));
}

function showSignIn(config: PageConfig, auth: Authenticator, message = ""): void {
  reset();
  document.title = "Sign in — cfs";
  const error = h("p", { class: "error-text", id: "signin-error", role: "alert" }, message);
  if (auth.mode === "dev") {
    const input = h("input", {
      id: "user",
      name: "user",
      required: true,
      autocomplete: "username",
      pattern: DEV_USER_PATTERN,
      maxlength: 128,
      "aria-describedby": "user-hint signin-error",
    });
    const submit = h("button", { type: "submit", class: "button primary" }, "Sign in");
    const form = h(
      "form",
      { class: "card signin", novalidate: true },
      h("h1", {}, "Sign in"),
      h("label", { for: "user" }, "User name"),
      input,
      h("p", { class: "hint", id: "user-hint" }, "Development sign-in: the dev token issuer of make run gives a token to any name (letters, digits, . _ @ | -)."),
      error,
      submit,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      submit.disabled = true;
      error.textContent = "";
      auth
        .signIn(input.value)
        .then((session) => session && showFiles(config, auth, session))
        .catch((err: unknown) => {
          error.textContent = err instanceof Error ? err.message : String(err);
          input.focus();
        })
        .finally(() => (submit.disabled = false));
    });
    main.appendChild(form);
    input.focus();
  } else {
    const button = h("button", { type: "button", class: "button primary" }, "Sign in");
    button.addEventListener("click", () => {
      button.disabled = true;
      auth.signIn().catch((err: unknown) => {
        error.textContent = err instanceof Error ? err.message : String(err);
        button.disabled = false;
      });
    });
    append(
      main,
      h("section", { class: "card signin" }, h("h1", {}, "Sign in"), h("p", {}, "Sign in to see and upload your files."), error, button),
    );
    button.focus();
  }
}

function showFiles(config: PageConfig, auth: Authenticator, session: Session): void {
  reset();
  document.title = "Your files — cfs";
  const signOut = h("button", { type: "button", class: "button small" }, "Sign out");
  signOut.addEventListener("click", () => {
    void session.signOut().then(() => {
      showSignIn(config, auth);
      announce("Signed out");
    });
  });
  append(account, h("span", { class: "user" }, "Signed in as ", h("strong", { id: "user-name" }, session.user)), signOut);
  account.hidden = false;
  const unmountFiles = mountFilesView(main, {
    session,
    apiBaseUrl: config.apiBaseUrl,
    onSessionEnded: (message) => void session.signOut().then(() => showSignIn(config, auth, message)),
  });
  const unmountAppPasswords = mountAppPasswordsView(main, { session, apiBaseUrl: config.apiBaseUrl });
  unmount = () => {
    unmountFiles();
    unmountAppPasswords();
  };
  main.focus();
}

async function start(): Promise<void> {
  let config: PageConfig;
  try {
    config = await loadConfig();
  } catch (err) {
    return showFatal("The page could not start", (err as Error).message);
  }
  const auth = createAuthenticator(config.auth);
  try {
    const session = await auth.restore();
    if (session) showFiles(config, auth, session);
    else showSignIn(config, auth);
  } catch (err) {
    showSignIn(config, auth, err instanceof SignInError ? err.message : `Sign-in is not available: ${(err as Error).message}`);
  }
}

void start();

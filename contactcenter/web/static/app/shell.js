// What every staff page shares: the top bar, the sign-in form, short notices.
import { api } from "./api.js";
import { h, clear } from "./dom.js";
import { t, otherLanguageHref } from "./i18n.js";

export const body = document.body;
export const me = {
  id: Number(body.dataset.userId || 0), name: body.dataset.userName || "", role: body.dataset.userRole || "",
};

export function isSupervisor() {
  return me.role === "supervisor" || me.role === "admin";
}

export function topBar(page, extra = []) {
  const links = [["console", "/console"]];
  if (isSupervisor()) links.push(["wallboard", "/wallboard"], ["reports", "/reports"]);
  if (me.role === "admin") links.push(["knowledge", "/knowledge"]);
  return h("header", { class: "topbar" },
    h("strong", { class: "brand" }, t("app.name")),
    h("nav", { class: "nav" }, links.map(([name, href]) =>
      h("a", { href, class: name === page ? "current" : null, "aria-current": name === page ? "page" : null },
        t(`nav.${name}`)))),
    h("div", { class: "grow" }, extra),
    me.name ? h("span", { class: "who" }, me.name) : null,
    h("a", { href: otherLanguageHref(), class: "lang-switch", id: "lang-switch" }, t("nav.language")),
    me.id ? h("button", { type: "button", class: "link", onclick: signOut }, t("nav.signout")) : null);
}

async function signOut() {
  try { await api("POST", "/auth/logout"); } finally { location.reload(); }
}

export function signInForm(root) {
  const error = h("p", { class: "error", role: "alert" });
  const email = h("input", { type: "email", name: "email", id: "login-email", required: true, autocomplete: "username" });
  const password = h("input", { type: "password", name: "password", id: "login-password", required: true,
    autocomplete: "current-password" });
  const form = h("form", { class: "card login", id: "login" },
    h("h1", {}, t("login.title")),
    h("label", { for: "login-email" }, t("login.email")), email,
    h("label", { for: "login-password" }, t("login.password")), password,
    h("button", { type: "submit", class: "primary" }, t("login.submit")), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      await api("POST", "/auth/login", { email: email.value, password: password.value });
      location.reload(); // the server now renders the page with this session's CSRF token
    } catch (exc) {
      error.textContent = exc.status === 401 ? t("login.failed") : t("error.generic", { message: exc.message });
    }
  });
  clear(root, topBar(""), h("main", { class: "center" }, form));
  email.focus();
}

export function roleMissing(root, role) {
  clear(root, topBar(""), h("main", { class: "center" },
    h("p", { class: "card error" }, t("login.role", { role }))));
}

// Sign-in first; then the page's own start function.
export function boot(start) {
  const root = document.getElementById("app");
  if (body.dataset.signedIn !== "yes") signInForm(root);
  else if (body.dataset.allowed !== "yes") roleMissing(root, body.dataset.needed);
  else start(root);
}

let toastArea = null;

export function toast(text, kind = "info") {
  if (!toastArea) {
    toastArea = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastArea);
  }
  const item = h("div", { class: `toast ${kind}` }, text);
  toastArea.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

export function failed(exc) {
  toast(t("error.generic", { message: exc.message || String(exc) }), "error");
}

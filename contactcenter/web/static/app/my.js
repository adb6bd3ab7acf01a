// The customer's "my tickets" (/my): signed in by a magic link (cookie cc_customer); else the form that sends one.
import { api } from "./api.js";
import { h, clear } from "./dom.js";
import { t, formatDateTime, otherLanguageHref } from "./i18n.js";

const root = document.getElementById("app");

function header() {
  return h("header", { class: "topbar customer" }, h("strong", { class: "brand" }, t("app.name")),
    h("nav", { class: "nav" }, h("a", { href: "/help" }, t("nav.help")), h("a", { href: "/contact" }, t("my.contact")),
      h("a", { href: "/chat" }, t("my.chat")), h("a", { href: "/my", class: "current" }, t("my.title"))),
    h("div", { class: "grow" }), h("a", { href: otherLanguageHref(), class: "lang-switch" }, t("nav.language")));
}

async function start() {
  const one = /^\/my\/tickets\/(\d+)$/.exec(location.pathname);
  try {
    if (one) { showTicket(await api("GET", `/portal/me/tickets/${one[1]}`)); return; }
    const data = await api("GET", "/portal/me/tickets");
    showTickets(Array.isArray(data) ? data : data.items || data.tickets || []);
  } catch (exc) {
    if (exc.status === 401 || exc.status === 403 || exc.status === 404) showSignIn();
    else clear(root, header(), h("main", { class: "center" }, h("p", { class: "card error" }, t("error.generic", { message: exc.message }))));
  }
}

function showTickets(tickets) {
  const signOut = h("button", { type: "button", class: "link", id: "my-signout", onclick: async () => {
    try { await api("POST", "/portal/signout"); } finally { location.reload(); }
  } }, t("my.signout"));
  clear(root, header(), h("main", { class: "narrow" }, h("h1", {}, t("my.title")), signOut,
    tickets.length ? h("ul", { class: "my-tickets", id: "my-tickets" }, tickets.map((tk) => h("li", { class: "card" },
      h("a", { href: tk.portal_url || tk.url || "#", dir: "auto" }, `#${tk.number ?? tk.id} · ${tk.subject || ""}`), " ",
      h("span", { class: `status s-${tk.status}` }, t(`status.${tk.status}`)), " ",
      h("time", { class: "muted" }, formatDateTime(tk.last_message_at || tk.updated_at || tk.created_at))))) :
      h("p", { class: "empty" }, t("my.none"))));
}

function showTicket(ticket) {
  clear(root, header(), h("main", { class: "narrow" },
    h("p", {}, h("a", { href: "/my" }, t("my.title"))),
    h("h1", { dir: "auto" }, `#${ticket.number} · ${ticket.subject || ""}`),
    h("p", {}, h("span", { class: `status s-${ticket.status}` }, t(`status.${ticket.status}`)), " ",
      h("span", { class: "badge" }, ticket.channel)),
    h("ol", { class: "timeline", id: "my-messages" }, ticket.messages.map((m) =>
      h("li", { class: `message ${m.direction === "in" ? "outbound" : "inbound"}` },
        h("div", { class: "meta" }, h("strong", {}, m.author === "you" ? t("my.you") : t("timeline.agent")),
          h("time", {}, formatDateTime(m.created_at))),
        h("div", { class: "text", dir: "auto" }, m.text))))));
}

function showSignIn() {
  const email = h("input", { type: "email", id: "my-email", required: true, autocomplete: "email" });
  const done = h("p", { role: "status", id: "my-sent" });
  const form = h("form", { class: "card login", id: "my-signin" }, h("h1", {}, t("my.title")),
    h("label", { for: "my-email" }, t("my.email")), email, h("button", { type: "submit", class: "primary" }, t("my.signin")), done);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { await api("POST", "/portal/magic-link", { email: email.value }); done.textContent = t("my.sent"); }
    catch (exc) { done.textContent = t("error.generic", { message: exc.message }); }
  });
  clear(root, header(), h("main", { class: "center" }, form));
}

start();

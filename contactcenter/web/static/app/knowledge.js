// Knowledge base (admins): the articles with filters, an editor (every save is a new version), the version
// history with "restore" (an old version's content as a new version; the status stays), and the customers' questions learned from agents' answers, to approve or reject.
// Routes in the hash: #article/ID, #new, #phrasings (the default is the list).
import { api, query } from "./api.js";
import { h, clear, option } from "./dom.js";
import { t, formatDateTime, formatNumber } from "./i18n.js";
import { boot, topBar, failed, toast } from "./shell.js";

const STATUSES = ["draft", "internal", "published"];
const LANGUAGES = ["en", "fa"];
const ui = {};
let articles = [];

boot(start);

function start(root) {
  ui.pending = h("span", { class: "badge", id: "kba-pending-count" }, "0");
  ui.main = h("section", { class: "work", id: "kba-main" });
  clear(root, topBar("knowledge"), h("main", { class: "console" },
    h("nav", { class: "sidebar" }, h("div", { class: "side-nav" },
      h("a", { href: "#", id: "kba-nav-list" }, t("kba.articles")),
      h("a", { href: "#new", id: "kba-nav-new" }, t("kba.new")),
      h("a", { href: "#phrasings", id: "kba-nav-phrasings" }, t("kba.phrasings"), " ", ui.pending))),
    ui.main));
  window.addEventListener("hashchange", route);
  route();
}

async function route() {
  const [view, id] = location.hash.slice(1).split("/");
  for (const link of document.querySelectorAll(".side-nav a")) {
    link.classList.toggle("current", link.getAttribute("href") === `#${view === "article" ? "" : view}`);
  }
  try {
    articles = (await api("GET", "/kb/articles?limit=500")).items;
    const pending = (await api("GET", "/kb/phrasings?status=pending&limit=500")).items;
    ui.pending.textContent = formatNumber(pending.length);
    if (view === "article" && /^\d+$/.test(id || "")) await editor(Number(id));
    else if (view === "new") await editor(null);
    else if (view === "phrasings") phrasings(pending);
    else list();
  } catch (exc) {
    failed(exc);
  }
}

function titleOf(id) {
  const found = articles.find((a) => a.id === id);
  return found ? found.title : `#${id}`;
}

function list() {
  const status = h("select", { id: "kba-filter-status", "aria-label": t("kba.status") },
    option("", t("kba.all")), STATUSES.map((s) => option(s, t(`kba.status.${s}`))));
  const language = h("select", { id: "kba-filter-language", "aria-label": t("kba.language") },
    option("", t("kba.all")), LANGUAGES.map((l) => option(l, t(`kba.lang.${l}`))));
  const text = h("input", { type: "search", id: "kba-filter-text", placeholder: t("kba.filter"), dir: "auto" });
  const body = h("tbody");
  const fill = () => {
    const needle = text.value.trim().toLowerCase();
    const shown = articles.filter((a) => (!status.value || a.status === status.value)
      && (!language.value || a.language === language.value)
      && (!needle || `${a.title} ${a.category} ${a.tags.join(" ")}`.toLowerCase().includes(needle)));
    clear(body, shown.map((a) => h("tr", { dataset: { id: a.id } },
      h("td", { dir: "auto" }, h("a", { href: `#article/${a.id}` }, a.title)),
      h("td", {}, a.language), h("td", { dir: "auto" }, a.category),
      h("td", {}, h("span", { class: `badge kba-${a.status}` }, t(`kba.status.${a.status}`))),
      h("td", {}, formatDateTime(a.updated_at)))));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, t("kba.none"))));
  };
  for (const input of [status, language, text]) input.addEventListener("input", fill);
  clear(ui.main, h("h1", {}, t("kba.title")),
    h("div", { class: "fields kba-filters" }, status, language, text),
    h("table", { class: "grid", id: "kba-list" },
      h("thead", {}, h("tr", {}, ["kba.col.title", "kba.language", "kba.category", "kba.status", "kba.updated"]
        .map((key) => h("th", { scope: "col" }, t(key))))), body));
  fill();
}

function lines(text) {
  return text.split("\n").map((s) => s.trim()).filter(Boolean);
}

function ids(text) {
  return text.split(/[\s,،]+/).filter(Boolean).map(Number);
}

async function editor(id) {
  const article = id === null ? null : await api("GET", `/kb/articles/${id}`);
  const a = article || { title: "", body: "", language: document.documentElement.lang === "fa" ? "fa" : "en",
    category: "", tags: [], status: "draft", phrasings: [], related: [] };
  const f = {
    title: h("input", { id: "kba-title", required: true, maxlength: 300, value: a.title, dir: "auto" }),
    language: h("select", { id: "kba-language" },
      [...new Set([...LANGUAGES, a.language])].map((l) => option(l, t(`kba.lang.${l}`), l === a.language))),
    category: h("input", { id: "kba-category", maxlength: 120, value: a.category, dir: "auto" }),
    tags: h("input", { id: "kba-tags", value: a.tags.join(", "), dir: "auto" }),
    status: h("select", { id: "kba-status" }, STATUSES.map((s) => option(s, t(`kba.status.${s}`), s === a.status))),
    related: h("input", { id: "kba-related", value: a.related.join(", "), dir: "ltr" }),
    body: h("textarea", { id: "kba-body", rows: 12, dir: "auto" }),
    phrasings: h("textarea", { id: "kba-phrasings", rows: 6, dir: "auto" }),
  };
  f.body.value = a.body;
  const preview = h("div", { class: "kba-preview card", id: "kba-preview", dir: "auto", hidden: true });
  const showPreview = async () => {
    try {
      // Rendered and sanitized by the server (nh3), exactly as the help page shows the article.
      preview.innerHTML = (await api("POST", "/kb/preview", { body: f.body.value })).html;
      preview.hidden = false;
    } catch (exc) {
      failed(exc);
    }
  };
  f.phrasings.value = a.phrasings.join("\n");
  const relatedTitles = h("span", { class: "muted", id: "kba-related-titles" });
  const showRelated = () => { relatedTitles.textContent = ids(f.related.value).map(titleOf).join(" · "); };
  f.related.addEventListener("input", showRelated);
  showRelated();
  const value = () => ({
    title: f.title.value, body: f.body.value, language: f.language.value, category: f.category.value.trim(),
    tags: f.tags.value.split(/[,،]/).map((s) => s.trim()).filter(Boolean), status: f.status.value,
    phrasings: lines(f.phrasings.value), related: ids(f.related.value),
  });
  const form = h("form", { class: "card", id: "kba-form" },
    h("div", { class: "fields" },
      h("label", { class: "wide" }, t("kba.col.title"), f.title), h("label", {}, t("kba.language"), f.language),
      h("label", {}, t("kba.category"), f.category), h("label", { class: "wide" }, t("kba.tags"), f.tags),
      h("label", {}, t("kba.status"), f.status),
      h("label", { class: "wide" }, t("kba.related"), f.related, relatedTitles)),
    h("label", { class: "kba-block" }, t("kba.body"), f.body),
    h("button", { type: "button", id: "kba-preview-button", onclick: showPreview }, t("kba.preview")), preview,
    h("label", { class: "kba-block" }, t("kba.phrasings.edit"), f.phrasings),
    h("div", { class: "kba-actions" },
      h("button", { type: "submit", class: "primary", id: "kba-save" }, t("kba.save")),
      article && article.status !== "published"
        ? h("button", { type: "button", id: "kba-publish", onclick: () => act("POST", `/kb/articles/${id}/publish`) },
          t("kba.publish")) : null,
      article && article.status === "published"
        ? h("a", { href: `/help/${id}`, target: "_blank", rel: "noopener", id: "kba-view" }, t("kba.view")) : null,
      article ? h("button", { type: "button", class: "link", id: "kba-delete", onclick: remove }, t("kba.delete")) : null));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const saved = article ? await api("PATCH", `/kb/articles/${id}`, value()) : await api("POST", "/kb/articles", value());
      toast(t("kba.saved", { version: saved.version }));
      if (article) route(); else location.hash = `#article/${saved.id}`;
    } catch (exc) {
      failed(exc);
    }
  });
  async function act(method, path) {
    try { await api(method, path); toast(t("kba.published")); route(); } catch (exc) { failed(exc); }
  }
  async function remove() {
    if (!window.confirm(t("kba.delete.confirm", { title: article.title }))) return;
    try { await api("DELETE", `/kb/articles/${id}`); toast(t("kba.deleted")); location.hash = "#"; } catch (exc) { failed(exc); }
  }
  clear(ui.main, h("h1", { dir: "auto" }, article ? article.title : t("kba.new")),
    article ? h("p", { class: "muted", id: "kba-version" }, t("kba.version", { version: article.version })) : null,
    form, article ? await history(id, article) : null);
  f.title.focus();
}

async function history(id, article) {
  const versions = (await api("GET", `/kb/articles/${id}/versions`)).items;
  const restore = async (v) => {
    try {
      const saved = await api("PATCH", `/kb/articles/${id}`, { title: v.title, body: v.body, language: v.language,
        category: v.category, tags: v.tags, phrasings: v.phrasings, related: v.related });
      toast(t("kba.restored", { from: v.version, version: saved.version }));
      route();
    } catch (exc) {
      failed(exc);
    }
  };
  return h("section", { class: "panel", id: "kba-history" }, h("h2", {}, t("kba.history")),
    h("table", { class: "grid" }, h("tbody", {}, versions.map((v) => h("tr", { dataset: { version: v.version } },
      h("td", { class: "num" }, `v${v.version}`), h("td", {}, formatDateTime(v.created_at)),
      h("td", { dir: "auto" }, v.title), h("td", {}, t(`kba.status.${v.status}`)),
      h("td", {}, v.version === article.version ? h("span", { class: "muted" }, t("kba.current"))
        : h("button", { type: "button", class: "link kba-restore", onclick: () => restore(v) }, t("kba.restore"))))))));
}

function phrasings(pending) {
  const review = async (row, approve) => {
    try {
      await api("POST", `/kb/phrasings/${row.id}/review`, { approve });
      toast(t(approve ? "kba.approved" : "kba.rejected"));
      route();
    } catch (exc) {
      failed(exc);
    }
  };
  clear(ui.main, h("h1", {}, t("kba.phrasings")), h("p", { class: "muted" }, t("kba.phrasings.hint")),
    pending.length ? h("table", { class: "grid", id: "kba-pending" },
      h("thead", {}, h("tr", {}, ["kba.question", "kba.article", "kba.ticket", ""].map((k) => h("th", { scope: "col" }, k ? t(k) : "")))),
      h("tbody", {}, pending.map((row) => h("tr", { dataset: { id: row.id } },
        h("td", { dir: "auto" }, row.text),
        h("td", { dir: "auto" }, h("a", { href: `#article/${row.article_id}` }, titleOf(row.article_id))),
        h("td", {}, row.ticket_id ? h("a", { href: `/console#ticket/${row.ticket_id}` }, `#${row.ticket_id}`) : "—"),
        h("td", {}, h("button", { type: "button", class: "primary kba-approve", onclick: () => review(row, true) }, t("kba.approve")),
          " ", h("button", { type: "button", class: "kba-reject", onclick: () => review(row, false) }, t("kba.reject")))))))
      : h("p", { class: "empty", id: "kba-pending-none" }, t("kba.phrasings.none")));
}

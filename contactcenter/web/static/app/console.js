// The agent console: queues, offers, the ticket page with its timeline, customer panel, KB suggestions,
// canned responses, notes with @mentions, changes, transfer, collision detection, live updates, shortcuts.
import { api, query } from "./api.js";
import { h, clear, option } from "./dom.js";
import { Live } from "./live.js";
import { t, formatDateTime } from "./i18n.js";
import { boot, me, topBar, toast, failed } from "./shell.js";

const STATUSES = ["new", "open", "pending", "on-hold", "solved", "closed"];
const PRIORITIES = ["low", "normal", "high", "urgent"];
const TYPES = ["question", "incident", "problem", "task", "complaint"];
const PRESENCES = ["available", "busy", "away", "offline"];
const LISTS = {
  mine: { assignee: "me", status: "new,open,pending,on-hold" },
  team: { assignee: "none", status: "new,open" },
  open: { status: "new,open,pending,on-hold" },
};

const live = new Live();
const state = {
  route: { view: "mine" }, rows: [], selected: 0, ticket: null, contact: null, agents: new Map(), skills: [],
  offers: new Map(), canned: [], article: null, mode: "reply", typing: false, typingTimer: 0, viewers: [],
  cannedMatches: [], cannedIndex: 0, refreshTimer: 0,
};
const ui = {};

boot(start);

function start(root) {
  ui.search = h("input", { type: "search", id: "search", class: "search", placeholder: t("search.placeholder"),
    "aria-label": t("search.placeholder"), dir: "auto" });
  ui.search.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && ui.search.value.trim()) go(`#/search/${encodeURIComponent(ui.search.value.trim())}`);
    if (event.key === "Escape") ui.search.blur();
  });
  ui.presence = h("select", { id: "presence", "aria-label": t("presence.label"), onchange: setPresence },
    PRESENCES.map((p) => option(p, t(`presence.${p}`))));
  ui.liveState = h("span", { class: "live-state", id: "live-state" });
  ui.offers = h("section", { class: "offers", id: "offers", "aria-label": t("offers.title") });
  ui.nav = h("nav", { class: "side-nav" });
  ui.main = h("main", { class: "content", id: "content" });
  clear(root,
    topBar("console", [ui.search, ui.presence, ui.liveState,
      h("button", { type: "button", class: "link", onclick: showShortcuts }, t("nav.shortcuts"))]),
    h("div", { class: "console" }, h("aside", { class: "sidebar" }, ui.nav), h("div", { class: "work" }, ui.offers, ui.main)));

  live.on("offers", (f) => { state.offers.clear(); f.offers.forEach(addOffer); renderOffers(); })
    .on("offer", (f) => { addOffer(f); renderOffers(); })
    .on("offer.decided", (f) => { state.offers.delete(f.offer_id); renderOffers(); })
    .on("ticket.updated", onTicketUpdated)
    .on("viewers", onViewers)
    .on("mention", (f) => toast(t("mention.toast", { name: f.author_name, id: f.ticket_id })))
    .on("sla.warning", (f) => toast(`#${f.ticket_id} · ${t(`metric.${f.metric}`)} · ${f.point}`))
    .on("sla.breached", (f) => toast(`#${f.ticket_id} · ${t(`metric.${f.metric}`)} · ${t("wall.breached")}`, "error"))
    .on("open", () => { ui.liveState.textContent = ""; ui.liveState.classList.remove("down"); })
    .on("close", () => { ui.liveState.textContent = t("live.offline"); ui.liveState.classList.add("down"); });
  live.keep("console", { type: "console" });
  live.start();

  renderNav();
  loadDirectory();
  setInterval(tick, 1000);
  document.addEventListener("keydown", shortcuts);
  window.addEventListener("hashchange", route);
  route();
}

async function loadDirectory() {
  try {
    const [agents, mine, skills] = await Promise.all([api("GET", "/agents?active=true"), api("GET", "/agents/me"),
      api("GET", "/skills")]);
    agents.forEach((a) => state.agents.set(a.id, a));
    state.skills = skills;
    if (!state.presenceTouched) ui.presence.value = mine.presence; // not over a choice made meanwhile
    if (state.ticket) renderTicket();
  } catch (exc) { failed(exc); }
  loadCanned();
}

async function loadCanned() {
  try { state.canned = await api("GET", "/canned-responses"); } catch (exc) { failed(exc); }
  if (ui.cannedList) renderCannedList();
}

async function setPresence() {
  state.presenceTouched = true;
  try { await api("PUT", "/agents/me/presence", { presence: ui.presence.value }); } catch (exc) { failed(exc); }
}

function agentName(id) {
  if (!id) return t("ticket.unassigned");
  const agent = state.agents.get(id);
  return agent ? agent.name : `#${id}`;
}

// --- routing between views -------------------------------------------------------------------------------

function go(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const view = parts[0] || "mine";
  const previous = state.route;
  if (previous.view === "ticket" && !(view === "ticket" && Number(parts[1]) === previous.id)) leaveTicket();
  if (view === "ticket" && Number(parts[1]) > 0) state.route = { view, id: Number(parts[1]) };
  else if (view === "search") state.route = { view, q: decodeURIComponent(parts.slice(1).join("/")) };
  else if (view === "contact") state.route = { view, id: Number(parts[1]) };
  else state.route = { view: LISTS[view] || view === "mentions" ? view : "mine" };
  renderNav();
  if (state.route.view === "ticket") openTicket(state.route.id);
  else if (state.route.view === "mentions") showMentions();
  else if (state.route.view === "search") showSearch(state.route.q);
  else showList();
}

function renderNav() {
  clear(ui.nav, ["mine", "team", "open", "mentions"].map((name) =>
    h("a", { href: `#/${name}`, id: `nav-${name}`, class: state.route.view === name ? "current" : null }, t(`view.${name}`))));
}

// --- ticket lists ------------------------------------------------------------------------------------------

async function showList() {
  const view = state.route.view;
  const params = view === "contact" ? { contact_id: state.route.id } : LISTS[view];
  try {
    const page = await api("GET", `/tickets${query({ ...params, limit: 50 })}`);
    if (state.route.view !== view) return;
    state.rows = page.items;
    state.selected = Math.min(state.selected, Math.max(0, state.rows.length - 1));
    clear(ui.main, h("h1", {}, view === "contact" ? t("view.search") : t(`view.${view}`)), ticketTable(state.rows));
  } catch (exc) { failed(exc); }
}

function ticketTable(rows) {
  if (!rows.length) return h("p", { class: "empty" }, t("list.empty"));
  const head = ["number", "subject", "customer", "channel", "status", "priority", "assignee", "updated"];
  return h("table", { class: "tickets", id: "ticket-list" },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, t(`col.${c}`))))),
    h("tbody", {}, rows.map((row, i) => h("tr", {
      class: i === state.selected ? "selected" : null, dataset: { ticket: row.id },
      onclick: () => go(`#/ticket/${row.id}`),
    },
    h("td", {}, row.number),
    h("td", {}, h("a", { href: `#/ticket/${row.id}`, dir: "auto" }, row.subject || "—")),
    h("td", { dir: "auto" }, row.contact.name || `#${row.contact.id}`),
    h("td", {}, h("span", { class: "badge" }, row.channel)),
    h("td", {}, h("span", { class: `status s-${row.status}` }, t(`status.${row.status}`))),
    h("td", {}, h("span", { class: `prio p-${row.priority}` }, t(`priority.${row.priority}`))),
    h("td", {}, agentName(row.assignee_id)),
    h("td", {}, formatDateTime(row.last_message_at))))));
}

function moveSelection(delta) {
  if (!state.rows.length) return;
  state.selected = (state.selected + delta + state.rows.length) % state.rows.length;
  document.querySelectorAll("#ticket-list tbody tr").forEach((tr, i) => tr.classList.toggle("selected", i === state.selected));
}

async function showMentions() {
  try {
    const mentions = await api("GET", "/me/mentions");
    clear(ui.main, h("h1", {}, t("view.mentions")), mentions.length ? h("ul", { class: "mentions" }, mentions.map((m) =>
      h("li", { class: m.read ? "read" : "unread" },
        h("a", { href: `#/ticket/${m.ticket_id}` }, `#${m.ticket_id}`), " · ", h("strong", {}, m.author_name), " · ",
        h("span", { dir: "auto" }, m.excerpt), " ", h("time", {}, formatDateTime(m.created_at))))) :
      h("p", { class: "empty" }, t("mentions.none")));
    if (mentions.length && !mentions[0].read) await api("POST", "/me/mentions/read", { up_to_id: mentions[0].id });
  } catch (exc) { failed(exc); }
}

async function showSearch(q) {
  ui.search.value = q;
  try {
    const [tickets, contacts] = await Promise.all([api("GET", `/tickets${query({ q, limit: 25 })}`),
      api("GET", `/contacts${query({ q, limit: 10 })}`)]);
    state.rows = tickets.items;
    state.selected = 0;
    clear(ui.main, h("h1", {}, t("view.search")),
      h("h2", {}, t("search.contacts")),
      contacts.items.length ? h("ul", { class: "contacts", id: "contact-results" }, contacts.items.map((c) =>
        h("li", {}, h("a", { href: `#/contact/${c.id}`, dir: "auto" }, c.name || `#${c.id}`), " ",
          h("span", { class: "muted" }, c.identities.map((i) => i.value).join(", "))))) :
        h("p", { class: "empty" }, t("search.none")),
      h("h2", {}, t("search.tickets")), ticketTable(state.rows));
  } catch (exc) { failed(exc); }
}

// --- offers -----------------------------------------------------------------------------------------------

function addOffer(frame) {
  if (frame.status && frame.status !== "pending") return;
  state.offers.set(frame.offer_id, { ...frame, deadline: frame.expires_at ? Date.parse(frame.expires_at) : null });
  if (!frame.subject) {
    api("GET", `/tickets/${frame.ticket_id}`).then((ticket) => {
      const offer = state.offers.get(frame.offer_id);
      if (offer) { offer.subject = ticket.subject; offer.channel = ticket.channel; renderOffers(); }
    }).catch(() => {});
  }
}

function renderOffers() {
  const offers = [...state.offers.values()];
  clear(ui.offers, offers.length ? h("h2", {}, t("offers.title")) : null, offers.map((o) =>
    h("div", { class: "offer card", dataset: { offer: o.offer_id } },
      h("strong", {}, t("offer.ticket", { id: o.ticket_id })), " ",
      o.channel ? h("span", { class: "badge" }, o.channel) : null, " ",
      h("span", { dir: "auto", class: "offer-subject" }, o.subject || ""),
      h("span", { class: "countdown", dataset: { deadline: o.deadline || "" } }, countdown(o.deadline)),
      h("button", { type: "button", class: "primary accept", onclick: () => decide(o, "accept") }, t("offer.accept")),
      h("button", { type: "button", class: "reject", onclick: () => decide(o, "reject") }, t("offer.reject")))));
}

function countdown(deadline) {
  if (!deadline) return "";
  const left = Math.round((deadline - Date.now()) / 1000);
  return left > 0 ? t("offer.left", { s: left }) : t("offer.expired");
}

function tick() {
  document.querySelectorAll(".countdown").forEach((el) => {
    el.textContent = countdown(Number(el.dataset.deadline) || null);
  });
}

async function decide(offer, verb) {
  try {
    await api("POST", `/offers/${offer.offer_id}/${verb}`, verb === "reject" ? { reason: "" } : undefined);
    state.offers.delete(offer.offer_id);
    renderOffers();
    if (verb === "accept") {
      toast(t("offer.accepted", { id: offer.ticket_id }));
      go(`#/ticket/${offer.ticket_id}`);
    }
  } catch (exc) { failed(exc); state.offers.delete(offer.offer_id); renderOffers(); }
}

// --- live updates -----------------------------------------------------------------------------------------

function onTicketUpdated(frame) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => {
    if (state.route.view === "ticket" && frame.ticket_id === state.route.id) refreshTicket();
    else if (LISTS[state.route.view]) showList();
  }, 150);
}

function onViewers(frame) {
  if (state.route.view !== "ticket" || frame.ticket !== state.route.id) return;
  state.viewers = frame.viewers.filter((v) => v.id !== me.id);
  renderViewers();
}

function renderViewers() {
  if (!ui.viewers) return;
  const typing = state.viewers.filter((v) => v.typing);
  clear(ui.viewers,
    state.viewers.length ? h("span", { class: "viewing" }, t("ticket.viewing", { names: state.viewers.map((v) => v.name).join(", ") })) : null,
    typing.map((v) => h("span", { class: "typing" }, t("ticket.typing", { name: v.name }))));
  ui.viewers.classList.toggle("collision", state.viewers.length > 0);
}

// --- the ticket page --------------------------------------------------------------------------------------

function leaveTicket() {
  if (state.ticket) {
    setTyping(false);
    live.drop(`view:${state.ticket.id}`, { type: "leave", ticket: state.ticket.id });
  }
  state.ticket = null;
  state.contact = null;
  state.viewers = [];
  state.article = null;
}

async function openTicket(id) {
  try {
    const ticket = await api("GET", `/tickets/${id}`);
    if (state.route.view !== "ticket" || state.route.id !== id) return;
    const fresh = !state.ticket || state.ticket.id !== id;
    state.ticket = ticket;
    if (fresh) {
      live.keep(`view:${id}`, { type: "view", ticket: id });
      state.mode = "reply";
      renderTicket();
      loadContact(ticket.contact.id);
      loadSuggestions(id);
    } else renderTicket();
  } catch (exc) {
    failed(exc);
    clear(ui.main, h("p", { class: "empty" }, exc.message));
  }
}

async function refreshTicket() {
  try {
    const ticket = await api("GET", `/tickets/${state.ticket.id}`);
    if (!state.ticket || ticket.id !== state.ticket.id) return;
    state.ticket = ticket;
    renderHeader();
    renderTimeline();
  } catch (exc) { failed(exc); }
}

function renderTicket() {
  const ticket = state.ticket;
  ui.header = h("div", { class: "ticket-head" });
  ui.viewers = h("div", { class: "viewers", id: "viewers", "aria-live": "polite" });
  ui.timeline = h("ol", { class: "timeline", id: "timeline" });
  ui.customer = h("section", { class: "panel", id: "customer-panel" }, h("h2", {}, t("customer.title")));
  ui.suggestions = h("section", { class: "panel", id: "kb-panel" }, h("h2", {}, t("kb.title")));
  ui.cannedList = h("div", { class: "canned-list", id: "canned-list" });
  const cannedPanel = h("section", { class: "panel", id: "canned-panel" }, h("h2", {}, t("canned.title")), ui.cannedList,
    cannedForm());
  clear(ui.main, h("div", { class: "ticket-page", dataset: { ticket: ticket.id } },
    h("div", { class: "ticket-main" }, ui.header, ui.viewers, ui.timeline, composer()),
    h("div", { class: "ticket-side" }, ui.customer, ui.suggestions, cannedPanel)));
  renderHeader();
  renderViewers();
  renderTimeline();
  renderCannedList();
  if (state.contact) renderCustomer();
}

function renderHeader() {
  const ticket = state.ticket;
  const status = h("select", { id: "ticket-status", "aria-label": t("ticket.status") },
    STATUSES.map((s) => option(s, t(`status.${s}`), s === ticket.status)));
  const priority = h("select", { id: "ticket-priority", "aria-label": t("ticket.priority") },
    PRIORITIES.map((p) => option(p, t(`priority.${p}`), p === ticket.priority)));
  const type = h("select", { id: "ticket-type", "aria-label": t("ticket.type") },
    TYPES.map((p) => option(p, t(`type.${p}`), p === ticket.type)));
  const tags = h("input", { id: "ticket-tags", value: ticket.tags.join(", "), placeholder: t("ticket.tags.hint"),
    "aria-label": t("ticket.tags"), dir: "auto" });
  const save = async () => {
    const changes = {};
    if (status.value !== ticket.status) changes.status = status.value;
    if (priority.value !== ticket.priority) changes.priority = priority.value;
    if (type.value !== ticket.type) changes.type = type.value;
    const newTags = tags.value.split(",").map((s) => s.trim()).filter(Boolean);
    if (newTags.join(",") !== ticket.tags.join(",")) changes.tags = newTags;
    if (!Object.keys(changes).length) return;
    try { await api("PATCH", `/tickets/${ticket.id}`, changes); toast(t("ticket.saved")); refreshTicket(); }
    catch (exc) { failed(exc); }
  };
  const target = h("select", { id: "transfer-to", "aria-label": t("ticket.transfer.to") },
    option("", "—"),
    [...state.agents.values()].filter((a) => a.id !== ticket.assignee_id).map((a) =>
      option(`u:${a.id}`, `${a.name} (${t(`presence.${a.presence}`)})`)),
    state.skills.map((s) => option(`s:${s.name}`, `⚑ ${s.name}`)));
  const note = h("input", { id: "transfer-note", placeholder: t("ticket.transfer.note"), dir: "auto" });
  const transfer = async () => {
    if (!target.value) return;
    const [kind, value] = [target.value.slice(0, 1), target.value.slice(2)];
    const body = kind === "u" ? { to_user_id: Number(value), note: note.value } : { to_skill: value, note: note.value };
    try { await api("POST", `/tickets/${ticket.id}/transfer`, body); toast(t("ticket.transfer.done")); refreshTicket(); }
    catch (exc) { failed(exc); }
  };
  clear(ui.header,
    h("div", { class: "title-row" },
      h("a", { href: "#/mine", class: "back", title: "Esc" }, rtlArrow(), " ", t("ticket.back")),
      h("h1", { dir: "auto", id: "ticket-subject" }, `#${ticket.number} · ${ticket.subject || "—"}`),
      h("span", { class: "badge" }, ticket.channel)),
    h("div", { class: "fields" },
      h("label", {}, t("ticket.status"), status), h("label", {}, t("ticket.priority"), priority),
      h("label", {}, t("ticket.type"), type), h("label", { class: "wide" }, t("ticket.tags"), tags),
      h("button", { type: "button", id: "ticket-save", onclick: save }, t("ticket.save"))),
    h("div", { class: "fields" },
      h("span", {}, `${t("ticket.assignee")}: `, h("strong", { id: "ticket-assignee" }, agentName(ticket.assignee_id))),
      ticket.assignee_id !== me.id ? h("button", { type: "button", class: "link", onclick: async () => {
        try { await api("PATCH", `/tickets/${ticket.id}`, { assignee_id: me.id }); refreshTicket(); } catch (exc) { failed(exc); }
      } }, t("ticket.takeit")) : null,
      h("label", {}, t("ticket.transfer.to"), target), note,
      h("button", { type: "button", id: "transfer", onclick: transfer }, t("ticket.transfer"))));
}

function rtlArrow() {
  return document.documentElement.dir === "rtl" ? "→" : "←";
}

function renderTimeline() {
  const ticket = state.ticket;
  clear(ui.timeline, ticket.timeline.map((entry) => {
    if (entry.kind === "event") {
      const actor = entry.actor_kind === "user" ? agentName(entry.actor_id) : t(`timeline.${entry.actor_kind === "contact" ? "customer" : "system"}`);
      return h("li", { class: "event" }, h("time", {}, formatDateTime(entry.at)), " ",
        t("timeline.event", { actor, action: entry.action }), " ", describeChanges(entry.changes));
    }
    const inbound = entry.direction === "in";
    const who = inbound ? (ticket.contact.name || t("timeline.customer")) :
      entry.author_kind === "agent" ? (entry.author_name || agentName(entry.author_id)) : t("timeline.system");
    return h("li", { class: `message ${inbound ? "inbound" : "outbound"}${entry.internal ? " internal" : ""}`,
      dataset: { message: entry.id } },
    h("div", { class: "meta" }, h("strong", { dir: "auto" }, who), " · ", h("span", { class: "badge" }, entry.channel),
      entry.internal ? h("span", { class: "badge note" }, t("timeline.internal")) : null,
      entry.delivery_status && !entry.internal && !inbound ? h("span", { class: "muted" }, entry.delivery_status) : null,
      h("time", {}, formatDateTime(entry.at))),
    h("div", { class: "text", dir: "auto" }, entry.text || ""),
    entry.attachments.length ? h("ul", { class: "attachments" }, entry.attachments.map((a) =>
      h("li", {}, h("a", { href: a.url }, a.filename)))) : null);
  }));
  ui.timeline.lastElementChild?.scrollIntoView({ block: "nearest" });
}

function describeChanges(changes) {
  if (!changes) return "";
  return Object.entries(changes).filter(([, v]) => Array.isArray(v) && v.length === 2)
    .map(([k, [a, b]]) => `${k}: ${a ?? "—"} → ${b ?? "—"}`).join(", ");
}

// --- composer: reply or internal note, canned responses, articles ------------------------------------------

function composer() {
  const ticket = state.ticket;
  ui.text = h("textarea", { id: "compose-text", rows: 5, dir: "auto" });
  ui.modeReply = h("button", { type: "button", role: "tab", id: "mode-reply", onclick: () => setMode("reply") }, t("compose.reply"));
  ui.modeNote = h("button", { type: "button", role: "tab", id: "mode-note", onclick: () => setMode("note") }, t("compose.note"));
  ui.after = h("select", { id: "compose-status", "aria-label": t("compose.sendAs") },
    option("", t("compose.keep")), ["pending", "solved", "on-hold"].map((s) => option(s, t(`status.${s}`))));
  ui.articleNote = h("p", { class: "muted", id: "compose-article" });
  ui.cannedPopup = h("ul", { class: "canned-popup", id: "canned-popup", role: "listbox", hidden: true });
  ui.text.addEventListener("input", onComposeInput);
  ui.text.addEventListener("keydown", onComposeKey);
  ui.text.addEventListener("blur", () => setTimeout(() => setTyping(false), 200));
  const form = h("form", { class: "composer", id: "composer" },
    h("div", { class: "tabs", role: "tablist" }, ui.modeReply, ui.modeNote),
    ui.text, ui.cannedPopup, ui.articleNote,
    h("div", { class: "actions" }, ui.after, h("button", { type: "submit", class: "primary", id: "compose-send" }, t("compose.send"))));
  form.addEventListener("submit", (event) => { event.preventDefault(); send(); });
  setTimeout(() => setMode(state.mode), 0);
  ui.text.placeholder = t("compose.reply.placeholder", { channel: ticket.channel });
  return form;
}

function setMode(mode) {
  state.mode = mode;
  ui.modeReply.setAttribute("aria-selected", String(mode === "reply"));
  ui.modeNote.setAttribute("aria-selected", String(mode === "note"));
  ui.text.classList.toggle("note", mode === "note");
  ui.after.hidden = mode === "note";
  ui.text.placeholder = mode === "note" ? t("compose.note.placeholder") :
    t("compose.reply.placeholder", { channel: state.ticket.channel });
}

function setTyping(typing) {
  if (!state.ticket || state.typing === typing) return;
  state.typing = typing;
  live.send({ type: "typing", ticket: state.ticket.id, typing });
}

function onComposeInput() {
  setTyping(true);
  clearTimeout(state.typingTimer);
  state.typingTimer = setTimeout(() => setTyping(false), 3000);
  const match = /(^|\s)\/([\w-]*)$/.exec(ui.text.value.slice(0, ui.text.selectionStart));
  state.cannedMatches = match && state.mode === "reply" ?
    state.canned.filter((c) => c.shortcut.startsWith(match[2].toLowerCase())).slice(0, 8) : [];
  state.cannedIndex = 0;
  renderCannedPopup();
}

function renderCannedPopup() {
  ui.cannedPopup.hidden = !state.cannedMatches.length;
  clear(ui.cannedPopup, state.cannedMatches.map((c, i) => h("li", {
    role: "option", "aria-selected": String(i === state.cannedIndex), class: i === state.cannedIndex ? "active" : null,
    onmousedown: (event) => { event.preventDefault(); insertCanned(c, true); },
  }, h("code", {}, `/${c.shortcut}`), " ", c.title)));
}

function onComposeKey(event) {
  if (state.cannedMatches.length) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const n = state.cannedMatches.length;
      state.cannedIndex = (state.cannedIndex + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      renderCannedPopup();
      return;
    }
    if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertCanned(state.cannedMatches[state.cannedIndex], true);
      return;
    }
    if (event.key === "Escape") { state.cannedMatches = []; renderCannedPopup(); return; }
  }
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); send(); }
}

async function insertCanned(canned, replaceShortcut) {
  try {
    const rendered = await api("POST", `/canned-responses/${canned.id}/render`, { ticket_id: state.ticket.id });
    const cursor = ui.text.selectionStart;
    let before = ui.text.value.slice(0, cursor);
    if (replaceShortcut) before = before.replace(/\/[\w-]*$/, "");
    ui.text.value = before + rendered.text + ui.text.value.slice(cursor);
    state.cannedMatches = [];
    renderCannedPopup();
    ui.text.focus();
  } catch (exc) { failed(exc); }
}

function renderCannedList() {
  if (!ui.cannedList) return;
  clear(ui.cannedList, state.canned.length ? h("ul", {}, state.canned.map((c) => h("li", {},
    h("button", { type: "button", class: "link", onclick: () => { setMode("reply"); insertCanned(c, false); } },
      h("code", {}, `/${c.shortcut}`), " ", c.title)))) : h("p", { class: "muted" }, t("canned.none")));
}

function cannedForm() {
  const title = h("input", { id: "canned-title", required: true, placeholder: t("col.subject"), dir: "auto" });
  const shortcut = h("input", { id: "canned-shortcut", required: true, placeholder: t("canned.shortcut"), pattern: "[\\w-]+" });
  const text = h("textarea", { id: "canned-body", required: true, rows: 3, placeholder: t("canned.body"), dir: "auto" });
  const shared = h("input", { type: "checkbox", id: "canned-shared" });
  const form = h("form", { class: "canned-form" }, title, shortcut, text,
    me.role !== "agent" ? h("label", {}, shared, " ", t("canned.shared")) : null,
    h("p", { class: "muted" }, t("canned.variables", { vars: "{{customer.name}} {{customer.first_name}} {{agent.name}} {{ticket.number}} {{ticket.subject}}" })),
    h("button", { type: "submit" }, t("canned.save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/canned-responses", { title: title.value, shortcut: shortcut.value, body: text.value, shared: shared.checked });
      form.reset();
      loadCanned();
    } catch (exc) { failed(exc); }
  });
  return h("details", {}, h("summary", {}, t("canned.new")), form);
}

async function send() {
  const text = ui.text.value.trim();
  if (!text || !state.ticket) return;
  const id = state.ticket.id;
  const button = document.getElementById("compose-send");
  button.disabled = true;
  try {
    if (state.mode === "note") {
      await api("POST", `/tickets/${id}/notes`, { text });
      toast(t("compose.noted"));
    } else {
      const body = { text };
      if (ui.after.value) body.status = ui.after.value;
      if (state.article && text.includes(state.article.marker)) body.article_id = state.article.id;
      await api("POST", `/tickets/${id}/replies`, body);
      toast(t("compose.sent"));
    }
    ui.text.value = "";
    state.article = null;
    ui.articleNote.textContent = "";
    setTyping(false);
    refreshTicket();
  } catch (exc) { failed(exc); } finally { button.disabled = false; }
}

// --- the side panels ----------------------------------------------------------------------------------------

async function loadContact(contactId) {
  try {
    state.contact = await api("GET", `/contacts/${contactId}`);
    if (state.ticket && state.ticket.contact.id === contactId) renderCustomer();
  } catch (exc) { failed(exc); }
}

function renderCustomer() {
  const c = state.contact;
  const past = c.tickets.filter((tk) => tk.id !== state.ticket.id);
  clear(ui.customer, h("h2", {}, t("customer.title")),
    h("p", { class: "customer-name", dir: "auto" }, h("strong", {}, c.name || (c.identities[0] ? c.identities[0].value : `#${c.id}`))),
    h("h3", {}, t("customer.identities")),
    h("ul", { class: "identities" }, c.identities.map((i) => h("li", {}, h("span", { class: "badge" }, i.kind), " ",
      h("bdi", {}, i.value), " ", h("span", { class: "muted" }, i.method)))),
    h("h3", {}, t("customer.organization")),
    c.organization ? h("p", { id: "customer-org" }, h("bdi", {}, c.organization.name), " · ", t("customer.tier"), ": ",
      h("strong", {}, c.organization.tier)) : h("p", { class: "muted" }, t("customer.none")),
    h("h3", {}, t("customer.contracts")),
    c.contracts.length ? h("ul", {}, c.contracts.map((k) => h("li", {}, h("bdi", {}, k.name), " · ",
      t(k.active ? "customer.contract.active" : "customer.contract.inactive"), " · ", k.support_hours))) :
      h("p", { class: "muted" }, t("customer.none")),
    h("h3", {}, t("customer.tickets", { n: Math.max(0, c.ticket_count - 1) })),
    h("ul", { class: "past" }, past.slice(0, 10).map((tk) => h("li", {},
      h("a", { href: `#/ticket/${tk.id}`, dir: "auto" }, `#${tk.number} ${tk.subject}`), " ",
      h("span", { class: `status s-${tk.status}` }, t(`status.${tk.status}`)), " ", h("span", { class: "badge" }, tk.channel)))));
}

async function loadSuggestions(ticketId) {
  try {
    const result = await api("GET", `/tickets/${ticketId}/suggestions`);
    if (!state.ticket || state.ticket.id !== ticketId) return;
    clear(ui.suggestions, h("h2", {}, t("kb.title")), result.items.length ? h("ul", { class: "suggestions" },
      result.items.map((hit) => h("li", { dataset: { article: hit.id } },
        h("a", { href: `/help/${hit.id}`, target: "_blank", rel: "noopener", dir: "auto" }, hit.title),
        h("span", { class: "muted" }, ` ${t("kb.score", { score: hit.score.toFixed(2) })}`),
        h("p", { class: "snippet", dir: "auto" }, hit.snippet),
        h("button", { type: "button", class: "insert-article", onclick: () => insertArticle(hit) }, t("kb.insert"))))) :
      h("p", { class: "muted" }, t("kb.none")));
  } catch (exc) { failed(exc); }
}

async function insertArticle(hit) {
  try {
    const article = await api("GET", `/kb/articles/${hit.id}`);
    const link = `${location.origin}/help/${article.id}`;
    const block = `${article.title}\n\n${article.body.trim()}\n\n${link}`;
    setMode("reply");
    ui.text.value = ui.text.value.trim() ? `${ui.text.value.trim()}\n\n${block}` : block;
    state.article = { id: article.id, marker: link };
    ui.articleNote.textContent = t("compose.article", { title: article.title });
    ui.text.focus();
  } catch (exc) { failed(exc); }
}

// --- keyboard shortcuts -------------------------------------------------------------------------------------

const SHORTCUTS = [["/", "sc.search"], ["1 2 3", "sc.list"], ["j k", "sc.move"], ["Enter", "sc.open"],
  ["r", "sc.reply"], ["n", "sc.note"], ["Ctrl+Enter", "sc.send"], ["a", "sc.accept"], ["x", "sc.reject"],
  ["Esc", "sc.back"], ["?", "sc.help"]];

function shortcuts(event) {
  const target = event.target;
  const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
  if (event.key === "Escape") {
    const dialog = document.getElementById("shortcuts");
    if (dialog) { dialog.remove(); return; }
    if (typing) { target.blur(); return; }
    if (state.route.view === "ticket") history.back();
    return;
  }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const first = [...state.offers.values()][0];
  const actions = {
    "/": () => ui.search.focus(), "1": () => go("#/mine"), "2": () => go("#/team"), "3": () => go("#/open"),
    j: () => moveSelection(1), k: () => moveSelection(-1),
    Enter: () => { if (state.route.view !== "ticket" && state.rows[state.selected]) go(`#/ticket/${state.rows[state.selected].id}`); },
    r: () => { if (ui.text && state.ticket) { setMode("reply"); ui.text.focus(); } },
    n: () => { if (ui.text && state.ticket) { setMode("note"); ui.text.focus(); } },
    a: () => first && decide(first, "accept"), x: () => first && decide(first, "reject"), "?": showShortcuts,
  };
  const action = actions[event.key];
  if (action) { event.preventDefault(); action(); }
}

function showShortcuts() {
  if (document.getElementById("shortcuts")) return;
  const close = h("button", { type: "button", onclick: () => dialog.remove() }, t("shortcuts.close"));
  const dialog = h("div", { class: "dialog", id: "shortcuts", role: "dialog", "aria-modal": "true" },
    h("div", { class: "card" }, h("h2", {}, t("shortcuts.title")),
      h("dl", { class: "keys" }, SHORTCUTS.map(([key, label]) => [h("dt", {}, h("kbd", {}, key)), h("dd", {}, t(label))])),
      close));
  document.body.append(dialog);
  close.focus();
}


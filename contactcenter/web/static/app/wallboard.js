// The supervisors' wallboard: GET /api/v1/wallboard, refetched on every wallboard.changed frame of the
// agents' WebSocket; countdowns tick every second in between.
import { api } from "./api.js";
import { h, clear, option } from "./dom.js";
import { Live } from "./live.js";
import { t, formatDuration, formatTime, formatNumber } from "./i18n.js";
import { boot, topBar, failed, toast } from "./shell.js";

const live = new Live();
const state = { board: null, fetchedAt: 0, pending: false, agents: [] };
const ui = {};

boot(start);

function start(root) {
  ui.generated = h("span", { class: "muted", id: "wall-generated" });
  ui.board = h("main", { class: "wallboard", id: "wallboard" });
  clear(root, topBar("wallboard", [ui.generated]), ui.board);
  live.on("wallboard.changed", refresh).on("open", refresh)
    .on("sla.breached", refresh).on("sla.warning", refresh);
  live.start();
  setInterval(tickClocks, 1000);
}

async function refresh() {
  if (state.pending) return;
  state.pending = true;
  try {
    state.board = await api("GET", "/wallboard");
    state.fetchedAt = Date.now();
    render();
  } catch (exc) {
    if (exc.status === 404) clear(ui.board, h("p", { class: "card" }, t("wall.unavailable")));
    else failed(exc);
  } finally { state.pending = false; }
}

function table(id, columns, rows, cells) {
  if (!rows.length) return h("p", { class: "empty", id }, t("wall.none"));
  return h("table", { class: "grid", id },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(c))))),
    h("tbody", {}, rows.map((row) => h("tr", {}, cells(row).map((cell) => h("td", {}, cell))))));
}

function render() {
  const b = state.board;
  ui.generated.textContent = t("wall.generated", { time: formatTime(new Date(b.generated_at)) });
  const waiting = b.queues.reduce((n, q) => n + q.waiting, 0);
  const available = b.agents.filter((a) => a.presence === "available").length;
  const tiles = h("section", { class: "tiles" },
    tile(t("wall.waiting"), formatNumber(waiting), "tile-waiting"),
    tile(t("wall.agents"), `${formatNumber(available)} / ${formatNumber(b.agents.length)}`, "tile-agents"),
    tile(t("wall.atrisk"), formatNumber(b.at_risk.length), b.at_risk.length ? "tile-risk warn" : "tile-risk"),
    tile(t("wall.breached"), formatNumber(b.breached.length), b.breached.length ? "tile-breached bad" : "tile-breached"));
  const queues = table("wall-queues", ["wall.queue", "wall.skill", "col.channel", "wall.waiting", "wall.longest"],
    b.queues, (q) => [q.queue, q.skill || "—", h("span", { class: "badge" }, q.channel), formatNumber(q.waiting),
      h("span", { class: "clock", dataset: { since: state.fetchedAt - q.longest_wait_seconds * 1000 } },
        formatDuration(q.longest_wait_seconds))]);
  const alertColumns = ["wall.ticket", "col.subject", "col.priority", "wall.metric", "wall.due", "col.assignee"];
  const breached = table("wall-breached", alertColumns, b.breached, (r) => alertCells(r, true));
  const atRisk = table("wall-atrisk", alertColumns, b.at_risk, (r) => alertCells(r, false));
  const agents = table("wall-agents", ["wall.agent", "wall.presence", "wall.load", "wall.wrapup"], b.agents, (a) => [
    h("bdi", {}, a.name), h("span", { class: `presence pr-${a.presence}` }, t(`presence.${a.presence}`)),
    Object.keys({ ...a.capacity, ...a.load })
      .map((k) => `${k} ${formatNumber(a.load[k] || 0)}/${formatNumber(a.capacity[k] || 0)}`).join(" · "),
    a.wrap_up_until ? formatTime(new Date(a.wrap_up_until)) : "—"]);
  clear(ui.board, tiles,
    h("section", { class: "panel" }, h("h2", {}, t("wall.queues")), queues),
    h("section", { class: "panel" }, h("h2", {}, t("wall.breached")), breached),
    h("section", { class: "panel" }, h("h2", {}, t("wall.atrisk")), atRisk),
    h("section", { class: "panel" }, h("h2", {}, t("wall.agents")), agents));
}

function tile(label, value, cls) {
  return h("div", { class: `tile ${cls}` }, h("span", { class: "tile-value" }, value), h("span", { class: "tile-label" }, label));
}

function alertCells(row, breached) {
  const agent = state.board.agents.find((a) => a.id === row.assignee_id);
  const due = Date.parse(row.due_at);
  const priority = h("select", { "aria-label": t("wall.raise"), onchange: (e) => change(row.ticket_id, { priority: e.target.value }) },
    ["low", "normal", "high", "urgent"].map((p) => option(p, t(`priority.${p}`), p === row.priority)));
  const assignee = h("select", { "aria-label": t("wall.reassign"),
    onchange: (e) => e.target.value && change(row.ticket_id, { assignee_id: Number(e.target.value) }) },
  option("", agent ? agent.name : "—"),
  state.board.agents.filter((a) => a.id !== row.assignee_id).map((a) => option(a.id, a.name)));
  return [h("a", { href: `/console#/ticket/${row.ticket_id}` }, `#${row.number}`), h("bdi", {}, row.subject),
    priority, t(`metric.${row.metric}`),
    breached ? h("span", { class: "clock bad", dataset: { breached: Date.parse(row.breached_at) } }, breachedText(Date.parse(row.breached_at))) :
      h("span", { class: "clock warn", dataset: { due } }, dueText(due)), assignee];
}

function dueText(due) {
  const seconds = (due - Date.now()) / 1000;
  return seconds >= 0 ? t("wall.dueIn", { d: formatDuration(seconds) }) : t("wall.breachedAgo", { d: formatDuration(-seconds) });
}

function breachedText(at) {
  return t("wall.breachedAgo", { d: formatDuration(Math.max(0, Date.now() - at) / 1000) });
}

function tickClocks() {
  document.querySelectorAll(".clock[data-breached]").forEach((el) => { el.textContent = breachedText(Number(el.dataset.breached)); });
  document.querySelectorAll(".clock[data-due]").forEach((el) => { el.textContent = dueText(Number(el.dataset.due)); });
  document.querySelectorAll(".clock[data-since]").forEach((el) => {
    el.textContent = formatDuration((Date.now() - Number(el.dataset.since)) / 1000);
  });
}

async function change(ticketId, changes) {
  try {
    await api("PATCH", `/tickets/${ticketId}`, changes);
    toast(t("ticket.saved"));
    refresh();
  } catch (exc) { failed(exc); }
}

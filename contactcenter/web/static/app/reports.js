// Reports: pick a report and a date range; a chart of the main figure, the table, a CSV link.
import { api, query } from "./api.js";
import { h, clear, option, svg } from "./dom.js";
import { t, formatNumber, formatDate, formatDuration, rtl } from "./i18n.js";
import { boot, topBar, failed } from "./shell.js";

const NAMES = ["volume", "response-times", "sla", "complaints", "satisfaction", "deflection", "agents"];
const ui = {};

boot(start);

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function start(root) {
  const params = new URLSearchParams(location.hash.slice(1));
  const today = new Date();
  const monthAgo = new Date(Date.now() - 30 * 86400000);
  ui.name = h("select", { id: "report-name", "aria-label": t("rep.title") }, NAMES.map((n) => option(n, t(`rep.${n}`), n === params.get("report"))));
  ui.since = h("input", { type: "date", id: "report-since", value: params.get("since") || isoDay(monthAgo) });
  ui.until = h("input", { type: "date", id: "report-until", value: params.get("until") || isoDay(today) });
  ui.csv = h("a", { id: "report-csv", class: "button", download: "" }, t("rep.csv"));
  ui.hint = h("span", { class: "muted", id: "report-range" });
  const form = h("form", { class: "report-form card" },
    h("label", {}, t("rep.title"), ui.name), h("label", {}, t("rep.since"), ui.since),
    h("label", {}, t("rep.until"), ui.until), h("button", { type: "submit", class: "primary" }, t("rep.show")), ui.csv, ui.hint);
  form.addEventListener("submit", (event) => { event.preventDefault(); show(); });
  ui.result = h("div", { id: "report" });
  clear(root, topBar("reports"), h("main", { class: "reports" }, h("h1", {}, t("rep.title")), form, ui.result));
  show();
}

async function show() {
  const name = ui.name.value;
  const range = { since: ui.since.value, until: ui.until.value };
  location.hash = new URLSearchParams({ report: name, ...range }).toString();
  ui.csv.href = `/api/v1/reports/${name}${query({ ...range, format: "csv" })}`;
  ui.hint.textContent = `${formatDate(`${range.since}T00:00:00Z`)} – ${formatDate(`${range.until}T00:00:00Z`)}`;
  try {
    const report = await api("GET", `/reports/${name}${query(range)}`);
    render(report);
  } catch (exc) {
    if (exc.status === 404 && exc.code !== "invalid") clear(ui.result, h("p", { class: "card" }, t("rep.unavailable")));
    else failed(exc);
  }
}

function cell(value, type) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (type === "ratio") return `${formatNumber(value * 100)}%`;
    if (type === "seconds") return formatDuration(value);
    return formatNumber(value);
  }
  return String(value);
}

function render(report) {
  const numeric = report.columns.filter((c) => ["number", "integer", "seconds", "ratio"].includes(c.type));
  // The chart shows the first measured figure (not the hour of day) against the row's other columns.
  const value = numeric.find((c) => c.key !== "hour");
  const labels = report.columns.filter((c) => c !== value && (!numeric.includes(c) || c.key === "hour"));
  const summary = Object.entries(report.summary || {}).filter(([, v]) => typeof v !== "object" || v === null);
  clear(ui.result,
    summary.length ? h("section", { class: "tiles", id: "report-summary" }, summary.map(([k, v]) =>
      h("div", { class: "tile" }, h("span", { class: "tile-value" }, cell(v)), h("span", { class: "tile-label" }, k)))) : null,
    report.rows.length && value ? chart(report.rows, labels, value) : null,
    report.rows.length ? h("table", { class: "grid", id: "report-table" },
      h("thead", {}, h("tr", {}, report.columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, report.rows.map((row) => h("tr", {}, report.columns.map((c) =>
        h("td", { class: numeric.includes(c) ? "num" : null, dir: "auto" }, cell(row[c.key], c.type))))))) :
      h("p", { class: "empty" }, t("rep.empty")));
}

// A horizontal bar chart in SVG (attributes only: no inline styles under the CSP).
function chart(rows, labels, column) {
  const shown = rows.slice(0, 24);
  const labelOf = (row) => labels.map((c) => String(row[c.key] ?? "")).join(" · ");
  const max = Math.max(...shown.map((r) => Number(r[column.key]) || 0), 1);
  const barHeight = 22;
  const width = 640;
  const labelWidth = 160;
  const height = shown.length * barHeight + 30;
  const bars = shown.map((row, i) => {
    const value = Number(row[column.key]) || 0;
    const length = Math.round(((width - labelWidth - 60) * value) / max);
    const y = i * barHeight + 24;
    const x = rtl ? width - labelWidth - length : labelWidth;
    return [
      svg("text", { x: rtl ? width - 4 : 4, y: y + 15, "text-anchor": rtl ? "end" : "start", class: "chart-label" }, labelOf(row)),
      svg("rect", { x, y: y + 3, width: Math.max(length, 1), height: barHeight - 6, class: "chart-bar", rx: 3 }),
      svg("text", { x: rtl ? x - 4 : x + length + 4, y: y + 15, "text-anchor": rtl ? "end" : "start", class: "chart-value" }, cell(value, column.type)),
    ];
  });
  return h("figure", { class: "chart card", id: "report-chart" },
    svg("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": column.label },
      svg("text", { x: rtl ? width - 4 : 4, y: 14, "text-anchor": rtl ? "end" : "start", class: "chart-title" }, column.label),
      bars));
}

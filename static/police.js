// The police command centre: live counts of the jurisdiction with drill-down, heat map, occupancy tiles,
// trends, origins, warnings, 24 h chart, the alert inbox, search, watchlist; and the statistics tab, which
// is all an analyst of another department (or an administrator) sees. Texts follow the language switch.
import { el, problemText, showStaff, staffApi as api } from "/static/api.js";
import { createAreaTiles } from "/static/command/area-tiles.js";
import { createHeatmap } from "/static/command/heatmap.js";
import { createOrigins } from "/static/command/origins.js";
import { createStatisticsTab } from "/static/command/statistics-tab.js";
import { createTimeline } from "/static/command/timeline.js";
import { createTrends } from "/static/command/trends.js";
import { WARNING_KINDS, createWarnings } from "/static/command/warnings.js";
import { liveAlert, startAlerts } from "/static/police-alerts.js";
import { apiLanguage, locale, mountLanguage, onLanguageChange, t } from "/static/police-lang.js";
import { startWatchlist } from "/static/police-watchlist.js";

const COUNTS = ["current_guests", "floating_population", "foreign_guests", "arrivals_today", "departures_today",
  "occupied_dwellings", "dwellings", "beds", "overdue_stays", "capacity_anomalies", "pending_verifications",
  "duplicate_presences"];
const REFRESH_MS = 5000; // map and 24 h chart follow the live counts, at most this often
const FIGURES_REFRESH_MS = 60000; // trends, origins and warnings: daily figures change slowly
const TABS = ["command", "statistics"];

let me;
let area;
let stream;
let lastDrawn = 0;
let lastFigures = 0;
let lastCounts = null;
let lastLive = null; // when the last counts came; null while (re)connecting
let reconnecting = false;
let panels;
let statisticsTab;
let allowedTabs = ["statistics"];
const trail = [];

function showCounts(counts) {
  lastCounts = counts;
  document.getElementById("area-name").textContent = `${counts.name} (${counts.area})`;
  document.getElementById("counts").replaceChildren(
    ...COUNTS.map((key) => el("div", { "data-count": key }, el("dt", {}, t(`count_${key}`)), el("dd", {}, String(counts[key])))),
  );
  panels.tiles.show(counts);
  panels.origins.counts(counts);
  if (Date.now() - lastDrawn > REFRESH_MS) drawMapAndTimeline(counts);
  if (Date.now() - lastFigures > FIGURES_REFRESH_MS) loadFigures();
}

async function drawMapAndTimeline(counts) {
  lastDrawn = Date.now();
  const [dwellings, hours] = await Promise.all([
    api(`/api/v1/police/dwellings?area=${encodeURIComponent(area)}`),
    api(`/api/v1/police/timeline?area=${encodeURIComponent(area)}`),
  ]);
  panels.heatmap.show(counts.name, dwellings, counts.children);
  panels.timeline.show(hours);
}

function loadFigures() {
  lastFigures = Date.now();
  panels.trends.load(area);
  panels.origins.load(area);
  panels.warnings.load(area);
}

// The stream of one area: `counts` on connect and on change, `alert` on every kind of alert.
// EventSource reconnects by itself and sends Last-Event-ID, so missed alerts are replayed.
function open(code, name) {
  const at = trail.findIndex((step) => step.code === code);
  if (at >= 0) trail.splice(at + 1);
  else trail.push({ code, name });
  area = code;
  document.getElementById("trail").replaceChildren(...trail.map((step) =>
    el("button", { type: "button", class: "secondary", onclick: () => open(step.code, step.name) }, step.name)));
  stream?.close();
  lastDrawn = 0;
  loadFigures();
  stream = new EventSource(`/api/v1/police/stream?area=${encodeURIComponent(code)}`);
  stream.addEventListener("counts", (event) => {
    lastLive = new Date();
    reconnecting = false;
    showLive();
    showCounts(JSON.parse(event.data));
  });
  // Capacity and arrival warnings also sit in the inbox until acknowledged; the warnings panel says what holds now.
  stream.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    if (WARNING_KINDS.has(alert.kind)) panels.warnings.alert(alert);
    liveAlert(alert);
  });
  stream.onerror = () => {
    lastLive = null;
    reconnecting = true;
    showLive();
  };
}

function showLive() {
  document.getElementById("live").textContent = lastLive
    ? t("live", { time: lastLive.toLocaleTimeString(locale()) })
    : t(reconnecting ? "reconnecting" : "connecting");
}

function showError(id, err) {
  const box = document.getElementById(id);
  box.textContent = problemText(err);
  box.classList.remove("hidden");
}

async function search(event) {
  event.preventDefault();
  const form = event.target;
  document.getElementById("search-error").classList.add("hidden");
  const query = new URLSearchParams({ [form.by.value]: form.term.value.trim(), reason: form.reason.value.trim() });
  try {
    const results = await api(`/api/v1/police/search?${query}`, { lang: apiLanguage() });
    document.getElementById("results").replaceChildren(results.length
      ? el("div", { class: "table-scroll" }, el("table", { class: "results" },
        el("thead", {}, el("tr", {}, ...["col_name", "col_document", "col_phone", "col_dwelling", "col_in", "col_out"].map((h) => el("th", {}, t(h))))),
        el("tbody", {}, ...results.map((r) => el("tr", {},
          el("td", {}, r.full_name), el("td", { class: "number" }, r.document_number || "—"), el("td", { class: "number" }, r.phone),
          el("td", {}, `${r.dwelling.name}, ${r.dwelling.address}`), el("td", { class: "number" }, r.check_in),
          el("td", { class: "number" }, r.checked_out_at ? new Date(r.checked_out_at).toLocaleString(locale()) : `(${r.check_out})`))))))
      : el("p", { class: "muted" }, t("no_results")));
  } catch (err) {
    showError("search-error", err);
  }
}

function showTab(name) {
  const shown = allowedTabs.includes(name) ? name : allowedTabs[0];
  for (const tab of TABS) {
    document.getElementById(tab).classList.toggle("hidden", tab !== shown);
    if (tab === shown) document.getElementById(`tab-${tab}`).setAttribute("aria-current", "page");
    else document.getElementById(`tab-${tab}`).removeAttribute("aria-current");
  }
  if (shown === "statistics") statisticsTab.show(area);
}

/**
 * The areas a statistics query may name: the account's own area and those below it. An analyst may
 * not list areas; their own is the one they ask about (its parts come as a breakdown by area).
 */
async function areasInReach() {
  if (me.role === "analyst") return [{ code: me.area_code, name: me.area_code }];
  const areas = await api("/api/v1/areas");
  const home = me.area_code || areas[0]?.code || "";
  const inReach = areas.filter((a) => a.code.startsWith(home));
  return [...inReach.filter((a) => a.code === home), ...inReach.filter((a) => a.code !== home)];
}

/** An analyst's (or administrator's) page: the statistics tab under their own title. */
function showStatisticsOnly() {
  history.replaceState(null, "", "#statistics");
  const title = document.getElementById("page-title");
  title.dataset.t = "stat_page_title";
  title.textContent = t("stat_page_title");
  const statisticsTitle = document.getElementById("statistics-title");
  const titled = () => { statisticsTitle.textContent = t("stat_title_of", { name: me.display_name || me.username }); };
  delete statisticsTitle.dataset.t;
  titled();
  onLanguageChange(titled);
  showTab("statistics");
}

// Police see everything; an analyst of another department (and an administrator) sees the statistics
// tab only and never calls a police endpoint.
async function start() {
  const status = document.getElementById("page-status");
  try {
    me = await api("/api/v1/auth/me");
  } catch (err) {
    if (err.status === 401) return; // on the way to the login page
    if (err.status !== 403) throw err;
  }
  if (!["police", "analyst", "admin"].includes(me?.role)) {
    status.dataset.t = "police_or_statistics_only";
    status.textContent = t("police_or_statistics_only");
    status.className = "error";
    return;
  }
  showStaff(me);
  status.classList.add("hidden");
  const areas = await areasInReach();
  statisticsTab = createStatisticsTab(areas);
  if (me.role !== "police") {
    showStatisticsOnly();
    return;
  }
  allowedTabs = TABS;
  document.getElementById("tabs").classList.remove("hidden");
  document.getElementById("review-link").classList.remove("hidden");
  // A wall screen runs the live view without the browser's bars.
  const fullscreen = document.getElementById("fullscreen");
  fullscreen.classList.toggle("hidden", !document.fullscreenEnabled);
  fullscreen.addEventListener("click", () => document.documentElement.requestFullscreen());
  panels = {
    tiles: createAreaTiles(open), heatmap: createHeatmap(), timeline: createTimeline(),
    trends: createTrends(), origins: createOrigins(), warnings: createWarnings(),
  };
  // The button stays disabled until here, so no search term ever leaves in a native form submission.
  const form = document.getElementById("search");
  form.addEventListener("submit", search);
  form.querySelector("button").disabled = false;
  onLanguageChange(() => {
    // The panels' own texts: every panel draws again in the new language.
    lastDrawn = 0;
    lastFigures = 0;
    if (lastCounts) showCounts(lastCounts);
    showLive();
  });
  const home = areas.find((a) => a.code === me.area_code);
  open(me.area_code, home ? home.name : me.area_code);
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  showTab(location.hash.slice(1));
  await Promise.all([startAlerts(), startWatchlist()]);
}

mountLanguage();
start();

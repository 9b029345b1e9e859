// The police view: live counts of the jurisdiction with drill-down, map, 24 h chart, alerts, search, watchlist.
import { el, showStaff, staffApi as api } from "/static/api.js";

const SVG = "http://www.w3.org/2000/svg";
const COUNT_LABELS = [
  ["current_guests", "在住人数 Guests now"],
  ["floating_population", "流动人口 Floating"],
  ["foreign_guests", "境外人员 Foreign"],
  ["arrivals_today", "今日入住 Arrivals today"],
  ["departures_today", "今日退房 Departures today"],
  ["occupied_dwellings", "有人住所 Occupied dwellings"],
  ["dwellings", "住所总数 Dwellings"],
  ["beds", "床位 Beds"],
  ["overdue_stays", "逾期未退 Overdue"],
  ["capacity_anomalies", "超员 Over capacity"],
  ["pending_verifications", "待核验 Pending review"],
];
const REFRESH_MS = 5000; // map and chart follow the live counts, at most this often

let me;
let area;
let stream;
let lastDrawn = 0;
const trail = [];

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function showCounts(counts) {
  document.getElementById("area-name").textContent = `${counts.name} (${counts.area})`;
  document.getElementById("counts").replaceChildren(
    ...COUNT_LABELS.map(([key, label]) => el("div", { "data-count": key }, el("dt", {}, label), el("dd", {}, String(counts[key])))),
  );
  const none = (text) => el("tr", {}, el("td", { colspan: "5", class: "muted" }, text));
  document.querySelector("#children tbody").replaceChildren(
    ...(counts.children.length ? [] : [none("无下级区域：这里是最小的辖区 No areas below: this is the smallest")]),
    ...counts.children.map((child) => el("tr", {},
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => open(child.area, child.name) }, child.name)),
      el("td", {}, String(child.current_guests)),
      el("td", {}, String(child.floating_population)),
      el("td", {}, String(child.foreign_guests)),
      el("td", {}, `${child.current_guests} / ${child.beds}`))),
  );
  document.getElementById("origins").replaceChildren(...(counts.origin_provinces.length
    ? counts.origin_provinces.map((p) => el("li", {}, `${p.name}: ${p.guests}`))
    : [el("li", { class: "muted" }, "暂无流动人口 No floating population now")]));
  if (Date.now() - lastDrawn > REFRESH_MS) drawMapAndChart();
}

async function drawMapAndChart() {
  lastDrawn = Date.now();
  const [dwellings, hours] = await Promise.all([
    api(`/api/v1/police/dwellings?area=${encodeURIComponent(area)}`),
    api(`/api/v1/police/timeline?area=${encodeURIComponent(area)}`),
  ]);
  drawMap(dwellings.filter((d) => d.latitude != null && d.longitude != null));
  drawChart(hours);
}

// Dwellings placed by their coordinates in the box that holds them all; no map tiles are fetched.
function drawMap(dwellings) {
  const map = document.getElementById("map");
  if (!dwellings.length) {
    map.replaceChildren(svg("text", { x: 20, y: 40 }, "没有带坐标的住所 No dwellings with coordinates"));
    return;
  }
  const lats = dwellings.map((d) => d.latitude);
  const lons = dwellings.map((d) => d.longitude);
  // A lone dwelling (or a row of them) sits in the middle of a small box, not in a corner.
  const box = (values) => {
    const [low, high] = [Math.min(...values), Math.max(...values)];
    const span = Math.max(high - low, 0.002);
    return [low - (span - (high - low)) / 2, span];
  };
  const [minLat, latSpan] = box(lats);
  const [minLon, lonSpan] = box(lons);
  const x = (lon) => 30 + ((lon - minLon) / lonSpan) * 540;
  const y = (lat) => 370 - ((lat - minLat) / latSpan) * 340;
  map.replaceChildren(...dwellings.map((d) => {
    const dot = svg("circle", { cx: x(d.longitude).toFixed(1), cy: y(d.latitude).toFixed(1),
      r: (4 + Math.min(d.current_guests, 8)).toString(), class: d.risk, "data-risk": d.risk });
    dot.append(svg("title", {}, `${d.name} — ${d.current_guests}/${d.capacity}`));
    return dot;
  }));
}

function drawChart(hours) {
  const chart = document.getElementById("chart");
  const peak = Math.max(1, ...hours.flatMap((h) => [h.arrivals, h.departures]));
  const barWidth = 600 / hours.length;
  chart.replaceChildren(...hours.flatMap((h, i) => {
    const arrivals = (h.arrivals / peak) * 150;
    const departures = (h.departures / peak) * 150;
    const hour = new Date(h.hour).getHours();
    return [
      svg("rect", { x: (i * barWidth + 2).toFixed(1), y: (160 - arrivals).toFixed(1), width: (barWidth / 2 - 2).toFixed(1),
        height: arrivals.toFixed(1), class: "arrivals" }, undefined),
      svg("rect", { x: (i * barWidth + barWidth / 2).toFixed(1), y: (160 - departures).toFixed(1),
        width: (barWidth / 2 - 2).toFixed(1), height: departures.toFixed(1), class: "departures" }),
      ...(i % 3 === 0 ? [svg("text", { x: (i * barWidth).toFixed(1), y: 176, "font-size": 11 }, `${hour}:00`)] : []),
    ];
  }));
}

function showAlert(alert) {
  const when = new Date(alert.created_at).toLocaleString();
  document.getElementById("alerts").prepend(el("li", { "data-alert": String(alert.id) },
    el("strong", {}, `布控命中 Watchlist hit: ${alert.document_masked}`), el("br"),
    `${alert.dwelling_name}, ${alert.dwelling_address} — ${alert.note} — ${when}`));
}

// The stream of one area: `counts` on connect and on change, `alert` on watchlist hits.
// EventSource reconnects by itself and sends Last-Event-ID, so missed alerts are replayed.
function open(code, name) {
  const at = trail.findIndex((t) => t.code === code);
  if (at >= 0) trail.splice(at + 1);
  else trail.push({ code, name });
  area = code;
  document.getElementById("trail").replaceChildren(...trail.map((t) =>
    el("button", { type: "button", class: "secondary", onclick: () => open(t.code, t.name) }, t.name)));
  stream?.close();
  lastDrawn = 0;
  const live = document.getElementById("live");
  stream = new EventSource(`/api/v1/police/stream?area=${encodeURIComponent(code)}`);
  stream.addEventListener("counts", (event) => {
    live.textContent = `实时 Live — ${new Date().toLocaleTimeString()}`;
    showCounts(JSON.parse(event.data));
  });
  stream.addEventListener("alert", (event) => showAlert(JSON.parse(event.data)));
  stream.onerror = () => { live.textContent = "连接中断，正在重连 Connection lost, reconnecting…"; };
}

function showError(id, err) {
  const box = document.getElementById(id);
  box.textContent = [err.message, ...Object.values(err.fieldErrors || {})].join(" ");
  box.classList.remove("hidden");
}

async function search(event) {
  event.preventDefault();
  const form = event.target;
  document.getElementById("search-error").classList.add("hidden");
  const query = new URLSearchParams({ [form.by.value]: form.term.value.trim(), reason: form.reason.value.trim() });
  try {
    const results = await api(`/api/v1/police/search?${query}`);
    document.getElementById("results").replaceChildren(results.length
      ? el("table", { class: "results" },
        el("thead", {}, el("tr", {}, ...["姓名 Name", "证件 Document", "手机 Phone", "住所 Dwelling", "入住 In", "退房 Out"].map((h) => el("th", {}, h)))),
        el("tbody", {}, ...results.map((r) => el("tr", {},
          el("td", {}, r.full_name), el("td", {}, r.document_number || "—"), el("td", {}, r.phone),
          el("td", {}, `${r.dwelling.name}, ${r.dwelling.address}`), el("td", {}, r.check_in),
          el("td", {}, r.checked_out_at ? new Date(r.checked_out_at).toLocaleString() : `(${r.check_out})`)))))
      : el("p", { class: "muted" }, "辖区内无记录 No stays in your jurisdiction"));
  } catch (err) {
    showError("search-error", err);
  }
}

async function loadWatchlist() {
  const entries = await api("/api/v1/police/watchlist");
  document.getElementById("watchlist").replaceChildren(...entries.map((e) => el("li", {}, `${e.document_masked} — ${e.note}`)));
}

async function watch(event) {
  event.preventDefault();
  const form = event.target;
  document.getElementById("watch-error").classList.add("hidden");
  try {
    await api("/api/v1/police/watchlist", { method: "POST", body: { document_number: form.number.value.trim(), note: form.note.value.trim() } });
    form.reset();
    await loadWatchlist();
  } catch (err) {
    showError("watch-error", err);
  }
}

async function start() {
  try {
    me = await api("/api/v1/auth/me");
  } catch (err) {
    if (err.status === 401) return; // on the way to the login page
    throw err;
  }
  if (me.role !== "police") {
    document.querySelector("main").replaceChildren(el("p", { class: "error" }, "仅限警务账号 Police accounts only"));
    return;
  }
  showStaff(me);
  // The buttons stay disabled until here, so no search term ever leaves in a native form submission.
  for (const [id, handler] of [["search", search], ["watch", watch]]) {
    const form = document.getElementById(id);
    form.addEventListener("submit", handler);
    form.querySelector("button").disabled = false;
  }
  const areas = await api("/api/v1/areas");
  const home = areas.find((a) => a.code === me.area_code);
  open(me.area_code, home ? home.name : me.area_code);
  await loadWatchlist();
}

start();

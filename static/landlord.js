// The landlord's and hotel desk's console: a summary, the dwellings as a table to search, filter, sort and
// select (posters of a selection), adding and editing a dwelling; a row opens its guests (landlord-guests.js).
import { ApiError, el, isTransient, showStaff, staffApi } from "/static/api.js";
import { dwellingEditor } from "/static/dwelling-editor.js";
import { acceptLanguage, applyLanguage, initialLanguage, languageSwitch, translator } from "/static/lang.js";
import { dwellingPanel } from "/static/landlord-guests.js";

// The owner's own CSV import (bulk onboarding), linked from the toolbar.
const IMPORT_PAGE = "/landlord/import";

const TEXTS = {
  en: {
    title: "Landlord & desk",
    logout: "Log out",
    not_owner: "This page is for landlords and hotel desks.",
    dwellings: "My dwellings",
    rooms: "Rooms",
    loading: "Loading…",
    none: "No dwellings yet: add the first one.",
    no_match: "No dwelling matches.",
    summary_dwellings: "dwellings",
    summary_rooms: "rooms",
    summary_occupied: "occupied",
    summary_guests: "guests now",
    summary_arrivals: "arrivals today",
    summary_overdue: "overdue",
    summary_over_capacity: "over capacity",
    search: "Search name or address",
    show: "Show",
    "show.all": "All",
    "show.occupied": "Occupied",
    "show.vacant": "Vacant",
    "show.overdue": "Overdue",
    "show.over_capacity": "Over capacity",
    "show.inactive": "Not taking registrations",
    area: "Area",
    all_areas: "All areas",
    sort: "Sort by",
    "sort.name": "Name / room number",
    "sort.guests": "Guests now",
    "sort.arrivals": "Arrivals today",
    "sort.newest": "Newest",
    add: "Add dwelling",
    add_room: "Add room",
    import_csv: "Import from a CSV file",
    shown: "{shown} of {total} shown",
    posters_of_selection: "Posters of the {n} selected:",
    posters_of_shown: "Posters of the {n} shown:",
    door_sticker: "door sticker",
    clear_selection: "Clear selection",
    select_all: "Select all shown",
    select: "Select {name}",
    col_name: "Name",
    col_room: "Room",
    col_address: "Address",
    col_area: "Area",
    col_guests: "Guests / beds",
    col_arrivals: "Arrivals today",
    short_guests: "Guests",
    short_arrivals: "Arrivals",
    col_status: "Status",
    overdue: "{n} overdue",
    over_capacity: "Over capacity",
    inactive: "Not taking registrations",
    created: "“{name}” added. Print its poster and put it up at the door.",
    saved: "“{name}” saved.",
    network_failed: "Could not reach the server: please try again.",
  },
  zh: {
    title: "房东 / 前台",
    logout: "退出登录",
    not_owner: "此页面供房东和旅馆前台使用。",
    dwellings: "我的住所",
    rooms: "房间",
    loading: "加载中…",
    none: "还没有住所，请添加第一个。",
    no_match: "没有符合条件的住所。",
    summary_dwellings: "处住所",
    summary_rooms: "间客房",
    summary_occupied: "处有人住",
    summary_guests: "位在住",
    summary_arrivals: "位今日入住",
    summary_overdue: "个逾期未退房",
    summary_over_capacity: "处超员",
    search: "搜索名称或地址",
    show: "显示",
    "show.all": "全部",
    "show.occupied": "有人住",
    "show.vacant": "空置",
    "show.overdue": "逾期未退房",
    "show.over_capacity": "超员",
    "show.inactive": "暂停登记",
    area: "区域",
    all_areas: "全部区域",
    sort: "排序",
    "sort.name": "名称 / 房间号",
    "sort.guests": "在住人数",
    "sort.arrivals": "今日入住",
    "sort.newest": "最新添加",
    add: "添加住所",
    add_room: "添加房间",
    import_csv: "从 CSV 文件导入",
    shown: "显示 {shown} / 共 {total}",
    posters_of_selection: "打印所选 {n} 处的二维码：",
    posters_of_shown: "打印显示的 {n} 处的二维码：",
    door_sticker: "门贴",
    clear_selection: "取消选择",
    select_all: "全选显示的住所",
    select: "选择 {name}",
    col_name: "名称",
    col_room: "房间",
    col_address: "地址",
    col_area: "区域",
    col_guests: "在住 / 床位",
    col_arrivals: "今日入住",
    short_guests: "在住",
    short_arrivals: "今日入住",
    col_status: "状态",
    overdue: "{n} 个逾期",
    over_capacity: "超员",
    inactive: "暂停登记",
    created: "已添加“{name}”，请打印二维码张贴在门口。",
    saved: "已保存“{name}”。",
    network_failed: "无法连接服务器，请重试。",
  },
};
const text = translator(TEXTS);
const SHOW = ["all", "occupied", "vacant", "overdue", "over_capacity", "inactive"];
const SORTS = ["name", "guests", "arrivals", "newest"];
const MATCHES = {
  all: () => true,
  occupied: (d) => d.current_guests > 0,
  vacant: (d) => d.current_guests === 0,
  overdue: (d) => d.overdue_stays > 0,
  over_capacity: (d) => d.over_capacity,
  inactive: (d) => !d.active,
};
// Room numbers sort as people read them: 101, 102, 201, 1001 (not 1001, 101, 102, 201).
const natural = new Intl.Collator(["zh-CN", "en"], { numeric: true, sensitivity: "base" });
const byName = (a, b) => natural.compare(a.name, b.name);
const ORDER = {
  name: byName,
  guests: (a, b) => b.current_guests - a.current_guests || byName(a, b),
  arrivals: (a, b) => b.arrivals_today - a.arrivals_today || byName(a, b),
  newest: (a, b) => b.id - a.id,
};

let lang = initialLanguage();
const t = (key, params) => text(lang, key, params);
const summaryBox = document.getElementById("summary");
const dwellingsBox = document.getElementById("dwellings");
const selectedBox = document.getElementById("selected");
const pageStatus = document.getElementById("page-status");

let me = null;
let dwellings = null;
let areaNames = new Map(); // code -> name
let areas = []; // every area a dwelling may be put in
const view = { search: "", show: "all", area: "", sort: "name" };
const picked = new Set(); // ids selected for printing
let panel = null; // the open dwelling's panel (landlord-guests.js)
let tableBody = null;
let countLine = null;
let printLine = null;
let selectAll = null;

const call = (path, options = {}) => staffApi(path, { lang: acceptLanguage(lang), ...options });

function say(kind, message) {
  pageStatus.className = kind ?? "hidden";
  pageStatus.textContent = kind ? message : "";
}

const sayError = (err) => say("error", isTransient(err) ? t("network_failed") : err.message);

// ---- the summary ----

function renderSummary() {
  if (!dwellings) {
    summaryBox.replaceChildren(el("p", { class: "muted" }, t("loading")));
    return;
  }
  const sum = (f) => dwellings.reduce((n, d) => n + f(d), 0);
  // ``name``: what the number counts, for programs (tests, a wall screen); ``key``: its words. A warning
  // with a count is a button that shows just those rows.
  const item = (name, n, key = `summary_${name}`, warn = false) => {
    const words = [el("strong", {}, String(n)), " ", t(key)];
    return el("li", { class: warn && n ? "warn" : null, "data-summary": name }, warn && n
      ? el("button", { type: "button", class: "link", onclick: () => showOnly(name) }, ...words)
      : words);
  };
  summaryBox.replaceChildren(el("ul", { class: "summary-line" },
    item("dwellings", dwellings.length, me?.role === "desk" ? "summary_rooms" : "summary_dwellings"),
    item("occupied", sum((d) => (d.current_guests > 0 ? 1 : 0))),
    item("guests", sum((d) => d.current_guests)),
    item("arrivals", sum((d) => d.arrivals_today)),
    item("overdue", sum((d) => d.overdue_stays), undefined, true),
    item("over_capacity", sum((d) => (d.over_capacity ? 1 : 0)), undefined, true)));
}

// ---- the table: toolbar once per language, rows on every change of the view ----

function showOnly(kind) {
  Object.assign(view, { search: "", show: kind, area: "" });
  renderDwellings();
  dwellingsBox.scrollIntoView?.({ block: "start" });
}

function shownDwellings() {
  const words = view.search.trim().toLowerCase().split(/\s+/).filter(Boolean);
  return dwellings
    .filter((d) => MATCHES[view.show](d) && (!view.area || d.area_code === view.area)
      && words.every((w) => d.name.toLowerCase().includes(w) || d.address.toLowerCase().includes(w)))
    .sort(ORDER[view.sort]);
}

function control(id, labelText, node) {
  node.id = id;
  return el("div", { class: "field" }, el("label", { for: id }, labelText), node);
}

function renderDwellings() {
  if (!dwellings) {
    dwellingsBox.replaceChildren(el("p", { class: "muted" }, t("loading")));
    return;
  }
  const desk = me?.role === "desk";
  const search = el("input", { type: "search", value: view.search, autocomplete: "off",
    oninput: (e) => { view.search = e.target.value; renderRows(); } });
  const show = el("select", { onchange: (e) => { view.show = e.target.value; renderRows(); } },
    ...SHOW.map((k) => el("option", { value: k, selected: k === view.show }, t(`show.${k}`))));
  const ownAreas = [...new Set(dwellings.map((d) => d.area_code))].sort();
  const area = el("select", { onchange: (e) => { view.area = e.target.value; renderRows(); } },
    el("option", { value: "" }, t("all_areas")),
    ...ownAreas.map((code) => el("option", { value: code, selected: code === view.area }, areaNames.get(code) ?? code)));
  const sort = el("select", { onchange: (e) => { view.sort = e.target.value; renderRows(); } },
    ...SORTS.map((k) => el("option", { value: k, selected: k === view.sort }, t(`sort.${k}`))));
  selectAll = el("input", { type: "checkbox", "aria-label": t("select_all"), onchange: (e) => {
    for (const d of shownDwellings()) e.target.checked ? picked.add(d.id) : picked.delete(d.id);
    renderRows();
  } });
  tableBody = el("tbody");
  countLine = el("p", { class: "muted count", role: "status" });
  printLine = el("p", { class: "links print-selection" });
  dwellingsBox.replaceChildren(
    el("div", { class: "table-head" },
      el("h2", {}, desk ? t("rooms") : t("dwellings")),
      el("p", { class: "actions" },
        el("a", { class: "button", href: "#new" }, t(desk ? "add_room" : "add")),
        el("a", { class: "button secondary", href: IMPORT_PAGE }, t("import_csv")))),
    el("div", { class: "toolbar", role: "search" },
      control("dwelling-search", t("search"), search),
      control("dwelling-show", t("show"), show),
      ownAreas.length > 1 ? control("dwelling-area", t("area"), area) : null,
      control("dwelling-sort", t("sort"), sort)),
    countLine,
    printLine,
    el("table", { class: "dwelling-table" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", class: "pick" }, selectAll),
        el("th", { scope: "col" }, desk ? t("col_room") : t("col_name")),
        el("th", { scope: "col" }, t("col_address")),
        el("th", { scope: "col" }, t("col_area")),
        el("th", { scope: "col", class: "number" }, t("col_guests")),
        el("th", { scope: "col", class: "number" }, t("col_arrivals")),
        el("th", { scope: "col" }, t("col_status")))),
      tableBody),
  );
  renderRows();
}

function renderRows() {
  if (!tableBody) return;
  const shown = shownDwellings();
  const openId = panel?.id;
  tableBody.replaceChildren(...shown.map((d) => dwellingRow(d, d.id === openId)));
  countLine.textContent = dwellings.length
    ? t("shown", { shown: shown.length, total: dwellings.length })
    : t("none");
  if (dwellings.length && !shown.length) countLine.textContent += ` — ${t("no_match")}`;
  selectAll.checked = shown.length > 0 && shown.every((d) => picked.has(d.id));
  renderPrintLine(shown);
}

function renderPrintLine(shown) {
  const chosen = picked.size ? dwellings.filter((d) => picked.has(d.id)) : shown;
  const ids = chosen.filter((d) => d.active).map((d) => `id=${d.id}`).join("&");
  printLine.classList.toggle("hidden", !ids);
  printLine.replaceChildren(
    t(picked.size ? "posters_of_selection" : "posters_of_shown", { n: chosen.length }), " ",
    el("span", { class: "sizes" },
      el("a", { href: `/api/v1/dwellings/posters?size=a4&${ids}`, target: "_blank", rel: "noopener" }, "A4"), " · ",
      el("a", { href: `/api/v1/dwellings/posters?size=a6&${ids}`, target: "_blank", rel: "noopener" }, "A6"), " · ",
      el("a", { href: `/api/v1/dwellings/posters?size=sticker&${ids}`, target: "_blank", rel: "noopener" }, t("door_sticker"))),
    picked.size
      ? el("button", { type: "button", class: "link", onclick: () => { picked.clear(); renderRows(); } }, t("clear_selection"))
      : "");
}

function dwellingRow(d, open) {
  const classes = ["dwelling-row", open && "current", d.overdue_stays && "overdue", d.over_capacity && "over-capacity",
    !d.active && "inactive"].filter(Boolean).join(" ");
  // The labels a phone shows before each cell (the table's head is hidden there); narrow cells get short ones.
  const label = (key) => ({ "data-label": t(key) });
  return el("tr", { class: classes, "data-dwelling-id": String(d.id) },
    el("td", { class: "pick" }, el("input", { type: "checkbox", checked: picked.has(d.id), "aria-label": t("select", { name: d.name }),
      onchange: (e) => { e.target.checked ? picked.add(d.id) : picked.delete(d.id); renderRows(); } })),
    el("th", { scope: "row", class: "name" },
      el("a", { href: `#d${d.id}`, "aria-current": open ? "true" : null }, d.name)),
    el("td", { class: "address", ...label("col_address") }, d.address),
    el("td", { class: "area", ...label("col_area") }, areaNames.get(d.area_code) ?? d.area_code),
    el("td", { class: "number guests", ...label("short_guests") },
      el("span", { class: "occupancy-count" }, `${d.current_guests} / ${d.capacity}`)),
    el("td", { class: "number arrivals", ...label("short_arrivals") }, String(d.arrivals_today)),
    el("td", { class: "status", ...label("col_status") },
      d.over_capacity ? el("span", { class: "badge warn over-capacity-mark" }, t("over_capacity")) : null,
      d.overdue_stays ? el("span", { class: "badge warn overdue-mark" }, t("overdue", { n: d.overdue_stays })) : null,
      d.active ? null : el("span", { class: "badge" }, t("inactive"))),
  );
}

// ---- loading, the open dwelling, the add form ----

async function loadDwellings() {
  dwellings = await call("/api/v1/dwellings");
  renderSummary();
  renderRows();
  panel?.update(dwellings.find((d) => d.id === panel.id));
}

function renderAll() {
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  document.getElementById("logout").textContent = t("logout");
  renderSummary();
  renderDwellings();
  panel?.setLanguage(lang);
  if (location.hash === "#new" && dwellings) openAdd(); // the form again, in the new language
}

function closeSelected() {
  panel = null;
  selectedBox.classList.add("hidden");
  selectedBox.replaceChildren();
}

function commonArea() {
  const counts = new Map();
  for (const d of dwellings) counts.set(d.area_code, (counts.get(d.area_code) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function editorFor(dwelling, onDone) {
  return dwellingEditor({
    lang, dwelling, others: dwellings, areas, defaultArea: commonArea(),
    save: async (body) => {
      const saved = dwelling
        ? await call(`/api/v1/dwellings/${dwelling.id}`, { method: "PATCH", body })
        : await call("/api/v1/dwellings", { method: "POST", body });
      say("ok", t(dwelling ? "saved" : "created", { name: saved.name }));
      await loadDwellings();
      onDone(saved);
    },
    onCancel: () => onDone(dwelling),
  });
}

function openAdd() {
  panel = null;
  selectedBox.classList.remove("hidden");
  selectedBox.replaceChildren(editorFor(null, (saved) => {
    location.hash = saved ? `#d${saved.id}` : "";
  }));
  selectedBox.querySelector("input")?.focus();
}

async function onHashChange() {
  const match = /^#d(\d+)$/.exec(location.hash);
  const dwelling = match && dwellings?.find((d) => d.id === Number(match[1]));
  if (location.hash === "#new") {
    openAdd();
  } else if (dwelling) {
    panel = dwellingPanel({ dwelling, lang, box: selectedBox, call, editorFor, onChanged: loadDwellings, say });
    selectedBox.classList.remove("hidden");
    selectedBox.scrollIntoView?.({ block: "start" });
    await panel.load();
  } else {
    closeSelected();
  }
  renderRows();
}

async function start() {
  applyLanguage(lang);
  document.getElementById("lang").replaceChildren(languageSwitch(lang, (chosen) => {
    lang = chosen;
    renderAll();
  }));
  renderAll();
  try {
    me = await call("/api/v1/auth/me");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) sayError(err);
    return;
  }
  showStaff(me);
  if (me.role !== "landlord" && me.role !== "desk") {
    summaryBox.classList.add("hidden");
    dwellingsBox.replaceChildren(el("p", { class: "notice" }, t("not_owner")));
    return;
  }
  const [own, known] = await Promise.all([call("/api/v1/dwellings"), call("/api/v1/areas")]);
  areas = known;
  areaNames = new Map(known.map((a) => [a.code, a.name]));
  dwellings = own;
  renderSummary();
  renderDwellings();
  window.addEventListener("hashchange", onHashChange);
  await onHashChange();
}

start().catch((err) => {
  if (!(err instanceof ApiError && err.status === 401)) sayError(err);
});

// The landlord's and hotel desk's page: own dwellings, QR posters, current guests, walk-in guests.
import { ApiError, el, showStaff, staffApi, isTransient, newIdempotencyKey, postIdempotent } from "/static/api.js";
import { acceptLanguage, applyLanguage, initialLanguage, languageSwitch, translator } from "/static/lang.js";
import { createStayForm, documentLabel, relationshipLabel } from "/static/stay-form.js";

const TEXTS = {
  en: {
    title: "Landlord & desk",
    logout: "Log out",
    not_owner: "This page is for landlords and hotel desks.",
    dwellings: "My dwellings",
    none: "No dwellings yet.",
    loading: "Loading…",
    occupancy: "Guests now",
    overdue: "{n} overdue",
    inactive: "Not taking registrations",
    show_guests: "Guests",
    poster_a4: "Poster A4",
    poster_a6: "Poster A6",
    print_all: "Print all posters",
    rotate: "Rotate QR code",
    confirm_rotate: "Make a new QR code for “{name}”? The old code stops working at once: print the new poster and put it up.",
    rotated: "New QR code for “{name}”: the old one no longer works. Print the new poster.",
    current_guests: "Current guests",
    no_guests: "No guests at the moment.",
    stay_dates: "{from} → {to}",
    phone: "Phone",
    by_desk: "registered at the desk",
    by_guest: "registered by the guest",
    by_remote: "remote verification",
    overdue_mark: "Overdue",
    anomaly_mark: "Over capacity",
    checkout: "Check out",
    confirm_checkout: "Check out {names}?",
    checked_out: "{names} checked out.",
    walk_in: "Register walk-in guest",
    walk_in_title: "Walk-in guest",
    register: "Register",
    cancel: "Cancel",
    sending: "Sending…",
    retrying: "Network problem, retrying…",
    network_failed: "Could not reach the server: please try again.",
    registered: "Registered. Receipt code {code}",
    minor: "minor",
  },
  zh: {
    title: "房东 / 前台",
    logout: "退出登录",
    not_owner: "此页面供房东和旅馆前台使用。",
    dwellings: "我的住所",
    none: "还没有住所。",
    loading: "加载中…",
    occupancy: "在住人数",
    overdue: "{n} 个逾期",
    inactive: "暂停登记",
    show_guests: "住客",
    poster_a4: "打印二维码 A4",
    poster_a6: "打印二维码 A6",
    print_all: "打印全部二维码",
    rotate: "更换二维码",
    confirm_rotate: "为“{name}”生成新的二维码吗？旧二维码将立即失效，请打印并张贴新的二维码。",
    rotated: "“{name}”已更换二维码，旧二维码已失效，请打印新的二维码。",
    current_guests: "在住住客",
    no_guests: "目前没有住客。",
    stay_dates: "{from} → {to}",
    phone: "电话",
    by_desk: "前台登记",
    by_guest: "住客自助登记",
    by_remote: "远程核验",
    overdue_mark: "逾期未退房",
    anomaly_mark: "超员",
    checkout: "退房",
    confirm_checkout: "为 {names} 办理退房吗？",
    checked_out: "{names} 已退房。",
    walk_in: "登记到店住客",
    walk_in_title: "到店住客登记",
    register: "提交登记",
    cancel: "取消",
    sending: "正在提交…",
    retrying: "网络不佳，正在重试…",
    network_failed: "无法连接服务器，请重试。",
    registered: "登记成功，回执码 {code}",
    minor: "未成年人",
  },
};
const text = translator(TEXTS);

let lang = initialLanguage();
const t = (key, params) => text(lang, key, params);
const dwellingsBox = document.getElementById("dwellings");
const selectedBox = document.getElementById("selected");
const pageStatus = document.getElementById("page-status");

let me = null;
let dwellings = null;
let stays = null; // current stays of the selected dwelling
let walkIn = null; // {form, key} while the walk-in form is open
let notice = null; // {kind, text: (lang) => string} about the selected dwelling

// ---- API calls: an expired session goes back to the login page ----

const call = (path, options = {}) => staffApi(path, { lang: acceptLanguage(lang), ...options });

function say(kind, message) {
  pageStatus.className = kind ?? "hidden";
  pageStatus.textContent = kind ? message : "";
}

const selectedId = () => Number((/^#d(\d+)$/.exec(location.hash) || [])[1]) || null;
const selected = () => dwellings?.find((d) => d.id === selectedId()) ?? null;

// ---- the dwellings list ----

function renderDwellings() {
  if (!dwellings) {
    dwellingsBox.replaceChildren(el("p", { class: "muted" }, t("loading")));
    return;
  }
  const printAll = el("p", { class: "links" }, `${t("print_all")}: `,
    el("a", { href: "/api/v1/dwellings/posters?size=a4", target: "_blank", rel: "noopener" }, "A4"), " · ",
    el("a", { href: "/api/v1/dwellings/posters?size=a6", target: "_blank", rel: "noopener" }, "A6"));
  dwellingsBox.replaceChildren(
    el("h2", {}, t("dwellings")),
    dwellings.length ? printAll : el("p", { class: "muted" }, t("none")),
    el("ul", { class: "dwelling-list" }, ...dwellings.map(dwellingItem)),
  );
}

function dwellingItem(d) {
  const current = d.id === selectedId();
  const occupancy = `${d.current_guests ?? "–"} / ${d.capacity}`;
  return el("li", { class: current ? "dwelling-item current" : "dwelling-item", "data-dwelling-id": String(d.id) },
    el("h3", {}, el("a", { href: `#d${d.id}`, "aria-current": current ? "true" : null }, d.name)),
    el("p", { class: "muted" }, d.address),
    el("p", { class: "occupancy" },
      `${t("occupancy")}: `, el("strong", { class: "occupancy-count" }, occupancy),
      d.overdue_stays ? el("span", { class: "badge warn" }, t("overdue", { n: d.overdue_stays })) : null,
      d.active === false ? el("span", { class: "badge" }, t("inactive")) : null),
    el("p", { class: "actions" },
      el("a", { class: "button", href: `#d${d.id}` }, t("show_guests")),
      el("a", { class: "button secondary", href: `/api/v1/dwellings/${d.id}/poster?size=a4`, target: "_blank", rel: "noopener" }, t("poster_a4")),
      el("a", { class: "button secondary", href: `/api/v1/dwellings/${d.id}/poster?size=a6`, target: "_blank", rel: "noopener" }, t("poster_a6")),
      el("button", { type: "button", class: "secondary", onclick: () => rotate(d) }, t("rotate"))),
  );
}

async function loadDwellings() {
  dwellings = await call("/api/v1/dwellings");
  renderDwellings();
}

async function rotate(d) {
  if (!confirm(t("confirm_rotate", { name: d.name }))) return;
  try {
    await call(`/api/v1/dwellings/${d.id}/qr/rotate`, { method: "POST" });
    say("ok", t("rotated", { name: d.name }));
  } catch (err) {
    say("error", isTransient(err) ? t("network_failed") : err.message);
  }
}

// ---- the selected dwelling: current guests, check-out, walk-in ----

function renderSelected() {
  const d = selected();
  selectedBox.classList.toggle("hidden", !d);
  if (!d) {
    selectedBox.replaceChildren();
    return;
  }
  const noticeNode = notice ? el("p", { class: notice.kind, role: "status" }, notice.text(lang)) : null;
  const list = stays === null
    ? el("p", { class: "muted" }, t("loading"))
    : stays.length
      ? el("ul", { class: "stay-list" }, ...stays.map(stayItem))
      : el("p", { class: "muted" }, t("no_guests"));
  let walkInPart;
  if (walkIn) {
    if (walkIn.lang !== lang) walkIn.form.setLanguage(lang);
    walkIn.lang = lang;
    walkInPart = el("section", { class: "walk-in", "aria-label": t("walk_in_title") },
      el("h3", {}, t("walk_in_title")),
      walkIn.form.element,
      el("p", {}, el("button", { type: "button", class: "secondary", onclick: closeWalkIn }, t("cancel"))));
  } else {
    walkInPart = el("p", {}, el("button", { type: "button", class: "wide", onclick: openWalkIn }, t("walk_in")));
  }
  selectedBox.replaceChildren(...[
    el("h2", {}, d.name),
    el("p", { class: "muted" }, d.address),
    noticeNode,
    el("h3", {}, t("current_guests")),
    list,
    walkInPart,
  ].filter(Boolean));
}

function guestLine(g) {
  return el("li", { class: "guest" },
    el("span", { class: "guest-name" }, g.full_name),
    g.document_type
      ? el("span", { class: "guest-document" },
        el("span", { class: "muted" }, documentLabel(lang, g.document_type)), " ",
        el("span", { class: "masked" }, g.document_masked ?? ""),
        g.nationality && g.nationality !== "CHN" ? el("span", { class: "muted" }, ` ${g.nationality}`) : null)
      : el("span", { class: "guest-document muted" }, `${t("minor")} · ${relationshipLabel(lang, g.relationship)}`),
  );
}

function stayItem(stay) {
  const names = stay.guests.map((g) => g.full_name).join("、");
  return el("li", { class: "stay", "data-stay-id": stay.id },
    el("ul", { class: "guests" }, ...stay.guests.map(guestLine)),
    el("p", { class: "stay-facts" },
      el("span", {}, t("stay_dates", { from: stay.check_in, to: stay.check_out })),
      el("span", { class: "muted" }, `${t("phone")} ${stay.phone_masked}`),
      el("span", { class: "muted" }, t(`by_${stay.registered_by}`))),
    stay.overdue || stay.capacity_anomaly
      ? el("p", {},
        stay.overdue ? el("span", { class: "badge warn overdue" }, t("overdue_mark")) : null,
        stay.capacity_anomaly ? el("span", { class: "badge warn anomaly" }, t("anomaly_mark")) : null)
      : null,
    el("button", { type: "button", class: "secondary", onclick: (event) => checkout(stay, names, event.currentTarget) }, t("checkout")),
  );
}

async function loadStays() {
  const d = selected();
  if (!d) return;
  stays = await call(`/api/v1/dwellings/${d.id}/stays?current=true`);
  if (selected()?.id === d.id) renderSelected();
}

async function checkout(stay, names, button) {
  if (!confirm(t("confirm_checkout", { names }))) return;
  button.disabled = true;
  try {
    await call(`/api/v1/stays/${stay.id}/checkout`, { method: "POST" });
    notice = { kind: "ok", text: (l) => text(l, "checked_out", { names }) };
    await Promise.all([loadStays(), loadDwellings()]);
  } catch (err) {
    button.disabled = false;
    notice = { kind: "error", text: () => (isTransient(err) ? t("network_failed") : err.message) };
    renderSelected();
  }
}

function openWalkIn() {
  notice = null;
  walkIn = {
    key: null,
    lang,
    form: createStayForm({
      lang,
      idPrefix: "walkin",
      submitLabel: (l) => text(l, "register"),
      onSubmit: registerWalkIn,
    }),
  };
  renderSelected();
  walkIn.form.element.querySelector("input")?.focus();
}

function closeWalkIn() {
  walkIn = null;
  renderSelected();
}

async function registerWalkIn(form) {
  const d = selected();
  const current = walkIn;
  // One key per registration: a retry after a network failure sends it again.
  current.key ??= newIdempotencyKey();
  form.setBusy(true);
  form.setStatus("notice", (l) => text(l, "sending"));
  try {
    const receipt = await postIdempotent(`/api/v1/dwellings/${d.id}/stays`, form.body(), {
      key: current.key,
      lang: acceptLanguage(lang),
      onRetry: () => form.setStatus("notice", (l) => text(l, "retrying")),
    });
    if (walkIn === current) walkIn = null;
    notice = { kind: "ok", text: (l) => text(l, "registered", { code: receipt.receipt_code }) };
    await Promise.all([loadStays(), loadDwellings()]);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    if (!isTransient(err)) {
      current.key = null; // answered: the next attempt is a new registration
      if (err.problem?.errors?.length) form.showProblem(err.problem);
      else form.setStatus("error", err.message);
    } else {
      form.setStatus("error", (l) => text(l, "network_failed"));
    }
  } finally {
    form.setBusy(false);
  }
}

// ---- start ----

function renderAll() {
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  document.getElementById("logout").textContent = t("logout");
  renderDwellings();
  renderSelected();
}

async function onHashChange() {
  stays = null;
  notice = null;
  walkIn = null;
  renderAll();
  if (selected()) {
    selectedBox.scrollIntoView?.({ block: "start" });
    await loadStays();
  }
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
    if (!(err instanceof ApiError && err.status === 401)) say("error", isTransient(err) ? t("network_failed") : err.message);
    return;
  }
  showStaff(me);
  if (me.role !== "landlord" && me.role !== "desk") {
    dwellingsBox.replaceChildren(el("p", { class: "notice" }, t("not_owner")));
    return;
  }
  window.addEventListener("hashchange", onHashChange);
  await loadDwellings();
  renderSelected();
  if (selected()) await loadStays();
}

start().catch((err) => {
  if (!(err instanceof ApiError && err.status === 401)) say("error", isTransient(err) ? t("network_failed") : err.message);
});

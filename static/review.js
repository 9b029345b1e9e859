// The police review queue at /police/review: applications of guests without their document, in the
// officer's jurisdiction, oldest first, with the photo and the waiting time; approve, or reject with a
// reason; the decisions made, with the time from application to certificate; revoking a certificate.
import { ApiError, el, showStaff, staffApi, isTransient } from "/static/api.js";
import { formatDuration } from "/static/duration.js";
import { acceptLanguage, applyLanguage, initialLanguage, languageSwitch, translator } from "/static/lang.js";
import { documentLabel } from "/static/stay-form.js";

const TEXTS = {
  en: {
    title: "Review queue",
    logout: "Log out",
    not_police: "This page is for police officers.",
    loading: "Loading…",
    queue: "Waiting for review",
    empty: "No application is waiting.",
    photo_of: "Photo of {name}",
    no_photo: "No photo",
    phone: "Phone",
    stay: "Stay",
    waiting: "Waiting {time}",
    confirmed: "Name and number confirmed by the registry",
    number_unknown: "Number not in the registry",
    name_differs: "Number in the registry under another name",
    face_match: "Face matches the registry photo",
    face_mismatch: "Face does not match the registry photo",
    face_unavailable: "No registry photo compared: compare the face yourself",
    watchlist: "Watchlist match",
    approve: "Approve",
    reason: "Reason for rejection (the guest sees it)",
    reject: "Reject",
    reason_required: "Please give the guest a reason.",
    approved_note: "{name}: approved, certificate {number}.",
    rejected_note: "{name}: rejected.",
    decided: "Decided",
    none_decided: "No decisions yet.",
    median: "Median time from application to certificate: {automatic} automatic, {review} after review (last {n}).",
    col_name: "Guest",
    col_result: "Decision",
    col_by: "By",
    col_time: "Application → certificate",
    col_certificate: "Certificate",
    automatic: "automatic",
    status_approved: "approved",
    status_rejected: "rejected",
    revoked: "revoked",
    revoke: "Revoke",
    revoke_title: "Revoke a certificate",
    number: "Certificate number",
    revoke_reason: "Reason for revocation",
    revoked_note: "Certificate {number} revoked.",
    network_failed: "Could not reach the server: please try again.",
    updated: "Updated {time}",
  },
  zh: {
    title: "核验审核",
    logout: "退出登录",
    not_police: "此页面供民警使用。",
    loading: "加载中…",
    queue: "待审核",
    empty: "目前没有待审核的申请。",
    photo_of: "{name} 的照片",
    no_photo: "无照片",
    phone: "电话",
    stay: "入住",
    waiting: "已等待 {time}",
    confirmed: "人口信息库已确认姓名与证件号码",
    number_unknown: "人口信息库中无此证件号码",
    name_differs: "证件号码在库，但姓名不符",
    face_match: "人像与库内照片一致",
    face_mismatch: "人像与库内照片不一致",
    face_unavailable: "未比对库内照片：请人工核对人像",
    watchlist: "命中关注名单",
    approve: "通过",
    reason: "驳回原因（住客可见）",
    reject: "驳回",
    reason_required: "请填写驳回原因。",
    approved_note: "{name}：已通过，凭证 {number}。",
    rejected_note: "{name}：已驳回。",
    decided: "已处理",
    none_decided: "尚无处理记录。",
    median: "从申请到发证的中位时间：自动 {automatic}，人工审核 {review}（最近 {n} 条）。",
    col_name: "住客",
    col_result: "结果",
    col_by: "处理人",
    col_time: "申请 → 发证",
    col_certificate: "凭证",
    automatic: "自动",
    status_approved: "已通过",
    status_rejected: "已驳回",
    revoked: "已吊销",
    revoke: "吊销",
    revoke_title: "吊销电子住宿凭证",
    number: "凭证编号",
    revoke_reason: "吊销原因",
    revoked_note: "凭证 {number} 已吊销。",
    network_failed: "无法连接服务器，请重试。",
    updated: "更新于 {time}",
  },
};
const text = translator(TEXTS);
const REFRESH_MS = 10_000;

let lang = initialLanguage();
const t = (key, params) => text(lang, key, params);
const queueBox = document.getElementById("queue");
const decidedBox = document.getElementById("decided");
const revokeBox = document.getElementById("revoke");
const pageStatus = document.getElementById("page-status");

let pending = null;
let decided = [];
let updatedAt = null;
const reasons = new Map(); // application id -> the rejection reason being typed
const revocation = { number: "", reason: "" };

const call = (path, options = {}) => staffApi(path, { lang: acceptLanguage(lang), ...options });

function say(kind, message) {
  pageStatus.className = kind ?? "hidden";
  pageStatus.textContent = kind ? message : "";
}

function failed(err) {
  say("error", isTransient(err) ? t("network_failed") : err.message);
}

// ---- loading ----

async function refresh() {
  const [queue, approved, rejected] = await Promise.all([
    call("/api/v1/verifications?status=pending"),
    call("/api/v1/verifications?status=approved"),
    call("/api/v1/verifications?status=rejected"),
  ]);
  const changed = JSON.stringify(queue.map((a) => a.id)) !== JSON.stringify(pending?.map((a) => a.id));
  pending = queue;
  decided = [...approved, ...rejected].sort((a, b) => b.decided_at.localeCompare(a.decided_at)).slice(0, 50);
  updatedAt = new Date();
  // The queue is redrawn only when it changed, so a reason being typed is not lost.
  if (changed) renderQueue();
  renderDecided();
}

// ---- the queue ----

function renderQueue() {
  const focused = document.activeElement?.id;
  if (!pending) {
    queueBox.replaceChildren(el("p", { class: "muted" }, t("loading")));
    return;
  }
  queueBox.replaceChildren(
    el("h2", {}, t("queue"), " ", el("span", { class: "badge queue-count" }, String(pending.length))),
    pending.length ? el("ul", { class: "review-list" }, ...pending.map(applicationItem)) : el("p", { class: "muted" }, t("empty")),
  );
  if (focused) document.getElementById(focused)?.focus();
  tick();
}

function applicationItem(a) {
  const reasonId = `reason-${a.id}`;
  const reason = el("textarea", { id: reasonId, rows: "2", maxlength: "500",
    oninput: (e) => reasons.set(a.id, e.target.value) });
  reason.value = reasons.get(a.id) ?? "";
  const error = el("p", { class: "field-error", "aria-live": "polite" });
  return el("li", { class: "application", "data-id": a.id },
    a.has_photo
      ? el("img", { class: "applicant-photo", src: `/api/v1/verifications/${a.id}/photo`, alt: t("photo_of", { name: a.full_name }) })
      : el("p", { class: "applicant-photo muted" }, t("no_photo")),
    el("div", { class: "application-facts" },
      el("h3", { class: "applicant-name" }, a.full_name),
      el("p", {}, `${documentLabel(lang, a.document_type)} `, el("span", { class: "masked" }, a.document_masked),
        a.nationality ? ` ${a.nationality}` : ""),
      el("p", { class: "muted" }, `${t("phone")} ${a.phone_masked}`),
      el("p", {}, a.dwelling.name, el("br"), el("span", { class: "muted" }, `${a.dwelling.address} · ${a.area_name}`)),
      el("p", { class: "muted" }, `${t("stay")} ${a.check_in} → ${a.check_out}`),
      el("p", { class: "flags" },
        el("span", { class: a.registry_match ? "badge registry-name" : "badge warn registry-name" }, t(registryName(a.registry))),
        el("span", { class: a.registry.face === "match" ? "badge registry-face" : "badge warn registry-face" }, t(`face_${a.registry.face}`)),
        a.watchlist_hit ? el("span", { class: "badge warn watchlist" }, t("watchlist")) : null),
      el("p", { class: "waiting", "data-since": a.created_at })),
    el("div", { class: "decision" },
      el("button", { type: "button", class: "approve wide", onclick: (e) => approve(a, e.currentTarget) }, t("approve")),
      el("label", { for: reasonId }, t("reason")),
      reason,
      error,
      el("button", { type: "button", class: "danger reject wide", onclick: (e) => reject(a, reason, error, e.currentTarget) }, t("reject"))),
  );
}

/** The registry's finding on the name and number, in one phrase. */
function registryName(finding) {
  if (!finding.number_known) return "number_unknown";
  return finding.name_matches ? "confirmed" : "name_differs";
}

/** Waiting times count up by the second, without redrawing anything else. */
function tick() {
  for (const node of queueBox.querySelectorAll("[data-since]")) {
    node.textContent = t("waiting", { time: formatDuration(lang, (Date.now() - Date.parse(node.dataset.since)) / 1000) });
  }
}

async function approve(a, button) {
  button.disabled = true;
  try {
    const done = await call(`/api/v1/verifications/${a.id}/approve`, { method: "POST" });
    say("ok", t("approved_note", { name: a.full_name, number: done.certificate_number }));
    await refresh();
  } catch (err) {
    button.disabled = false;
    failed(err);
  }
}

async function reject(a, reasonBox, error, button) {
  const reason = reasonBox.value.trim();
  if (!reason) {
    error.textContent = t("reason_required");
    reasonBox.setAttribute("aria-invalid", "true");
    reasonBox.focus();
    return;
  }
  button.disabled = true;
  try {
    await call(`/api/v1/verifications/${a.id}/reject`, { method: "POST", body: { reason } });
    reasons.delete(a.id);
    say("ok", t("rejected_note", { name: a.full_name }));
    await refresh();
  } catch (err) {
    button.disabled = false;
    failed(err);
  }
}

// ---- decisions made, and their times ----

function median(values) {
  if (!values.length) return null;
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function renderDecided() {
  const approved = decided.filter((d) => d.seconds_to_certificate != null);
  const of = (automatic) => median(approved.filter((d) => (d.decided_path === "automatic") === automatic).map((d) => d.seconds_to_certificate));
  const shown = (seconds) => (seconds == null ? "–" : formatDuration(lang, seconds));
  const row = (d) => el("tr", { "data-id": d.id },
    el("td", {}, d.full_name),
    el("td", { class: `result ${d.status}` }, t(`status_${d.status}`)),
    el("td", { class: "decided-by" }, d.decided_path === "automatic" ? t("automatic") : d.decided_by ?? ""),
    el("td", { class: "time-to-certificate" }, shown(d.seconds_to_certificate)),
    el("td", {}, d.certificate_number
      ? [el("span", { class: "certificate-number" }, d.certificate_number), " ",
        d.certificate_revoked
          ? el("span", { class: "badge warn" }, t("revoked"))
          : el("button", { type: "button", class: "link", onclick: () => prefillRevocation(d.certificate_number) }, t("revoke"))]
      : d.rejection_reason ?? ""));
  decidedBox.replaceChildren(
    el("h2", {}, t("decided")),
    approved.length ? el("p", { class: "median" }, t("median", { automatic: shown(of(true)), review: shown(of(false)), n: approved.length })) : "",
    decided.length
      ? el("div", { class: "table-scroll" }, el("table", { class: "decided-table" },
        el("thead", {}, el("tr", {}, ...["col_name", "col_result", "col_by", "col_time", "col_certificate"].map((k) => el("th", {}, t(k))))),
        el("tbody", {}, ...decided.map(row))))
      : el("p", { class: "muted" }, t("none_decided")),
    updatedAt ? el("p", { class: "muted" }, t("updated", { time: updatedAt.toLocaleTimeString(lang === "zh" ? "zh-CN" : "en") })) : "",
  );
}

// ---- revoking ----

function prefillRevocation(number) {
  revocation.number = number;
  renderRevoke();
  document.getElementById("revoke-reason").focus();
}

function renderRevoke() {
  const number = el("input", { id: "revoke-number", autocapitalize: "characters", oninput: (e) => { revocation.number = e.target.value; } });
  const reason = el("input", { id: "revoke-reason", maxlength: "500", oninput: (e) => { revocation.reason = e.target.value; } });
  number.value = revocation.number;
  reason.value = revocation.reason;
  revokeBox.replaceChildren(
    el("h2", {}, t("revoke_title")),
    el("div", { class: "row" },
      el("div", {}, el("label", { for: "revoke-number" }, t("number")), number),
      el("div", {}, el("label", { for: "revoke-reason" }, t("revoke_reason")), reason)),
    el("p", { class: "actions" }, el("button", { type: "button", class: "danger", onclick: revoke }, t("revoke"))),
  );
}

async function revoke() {
  const number = revocation.number.trim();
  const reason = revocation.reason.trim();
  if (!number || !reason) {
    document.getElementById(number ? "revoke-reason" : "revoke-number").focus();
    return;
  }
  try {
    await call(`/api/v1/certificates/${encodeURIComponent(number)}/revoke`, { method: "POST", body: { reason } });
    say("ok", t("revoked_note", { number }));
    Object.assign(revocation, { number: "", reason: "" });
    renderRevoke();
    await refresh();
  } catch (err) {
    failed(err);
  }
}

// ---- start ----

function renderAll() {
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  document.getElementById("logout").textContent = t("logout");
  renderQueue();
  renderDecided();
  renderRevoke();
}

async function start() {
  applyLanguage(lang);
  document.getElementById("lang").replaceChildren(languageSwitch(lang, (chosen) => {
    lang = chosen;
    renderAll();
  }));
  renderAll();
  let me;
  try {
    me = await call("/api/v1/auth/me");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) failed(err);
    return;
  }
  showStaff(me);
  if (me.role !== "police") {
    queueBox.replaceChildren(el("p", { class: "notice" }, t("not_police")));
    return;
  }
  await refresh();
  setInterval(tick, 1000);
  setInterval(() => refresh().catch(failed), REFRESH_MS);
}

start().catch(failed);

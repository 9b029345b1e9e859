// The guest without their document, at /r/{token}/apply: the application, its live status, then the
// electronic accommodation certificate. Every application (id and secret) is kept on this phone until its
// certificate expires, so a family applying one by one keeps all their certificates, and the page finds
// its way back to each status or certificate after a reload (static/kept-applications.js).
import { api, ApiError, el, isTransient, newIdempotencyKey, postIdempotent, retrying } from "/static/api.js";
import { checkDates, checkDocument, checkPhone } from "/static/documents.js";
import { formatDuration } from "/static/duration.js";
import { applicationUrl, keptApplications, saveApplications } from "/static/kept-applications.js";
import { acceptLanguage, applyLanguage, initialLanguage, languageSwitch, localDate, translator } from "/static/lang.js";
import { privacyNotice } from "/static/privacy-notice.js";
import { DOCUMENT_TYPES, documentLabel, messageFor, nationalityOptions } from "/static/stay-form.js";

const TEXTS = {
  en: {
    title: "No ID with me? Apply online",
    loading: "Loading…",
    intro: "Enter your identity and take a photo of your face. Your name, number and face are checked against the " +
      "identity registry, and the police of this area review your application, usually within minutes; your " +
      "electronic accommodation certificate then appears on this page.",
    full_name: "Full name",
    document_type: "Document type",
    document_number: "Document number",
    nationality: "Nationality",
    choose: "Please choose",
    phone: "Phone",
    check_out: "Check-out date",
    photo: "Photo of your face",
    photo_hint: "Take it now with the front camera, in good light, face fully visible.",
    take_photo: "Take photo",
    photo_too_large: "The photo is larger than 8 MB. Please take it again or choose a smaller one.",
    consent: "I agree that my name, document number, phone and photo are checked against the identity registry " +
      "and the police watchlist, and reviewed by the police of this area if needed. The photo is stored " +
      "encrypted and deleted as soon as my application is decided; my stay is then registered like any guest's.",
    consent_required: "Please agree to the identity check and to the photo being kept until the decision.",
    submit: "Send application",
    sending: "Sending…",
    retrying: "Network problem, retrying…",
    network_failed: "Could not reach the server. Please try again.",
    server_failed: "The server has a problem. Please try again in a minute.",
    fix_fields: "Please correct the marked fields.",
    pending_title: "Application sent",
    pending: "The police of this area are reviewing your application. This page updates by itself: keep it open.",
    waiting: "Waiting for {time}",
    rejected_title: "Application not approved",
    reason: "Reason",
    apply_again: "Apply again",
    certificate_title: "Electronic accommodation certificate",
    certificate_number: "Certificate number",
    holder: "Holder",
    document: "Document",
    place: "Place",
    valid: "Valid",
    show_qr: "Show this QR code when asked: anyone can check it by scanning it.",
    check_it: "Check this certificate",
    revoked: "This certificate has been revoked by the police.",
    new_application: "Apply for another guest",
    live_lost: "Connection lost; checking again…",
    kept: "Also on this phone",
    kept_pending: "waiting for review",
    kept_rejected: "not approved",
  },
  zh: {
    title: "没带证件？在线申请",
    loading: "加载中…",
    intro: "请填写身份信息并拍摄一张面部照片。您的姓名、证件号码和人像将与人口信息库核对，并由辖区民警审核，通常几分钟内完成；电子住宿凭证随后显示在本页。",
    full_name: "姓名",
    document_type: "证件类型",
    document_number: "证件号码",
    nationality: "国籍",
    choose: "请选择",
    phone: "手机号码",
    check_out: "预计退房日期",
    photo: "面部照片",
    photo_hint: "请使用前置摄像头现场拍摄，光线充足，面部完整清晰。",
    take_photo: "拍照",
    photo_too_large: "照片超过 8 MB，请重新拍摄或选择较小的照片。",
    consent: "我同意将我的姓名、证件号码、手机号码和照片与人口信息库及公安关注名单进行比对，必要时由辖区民警审核。" +
      "照片加密保存，申请处理完毕后立即删除；之后我的入住信息将与其他住客一样登记。",
    consent_required: "请同意身份核验以及在审核完成前保存您的照片。",
    submit: "提交申请",
    sending: "正在提交…",
    retrying: "网络不佳，正在重试…",
    network_failed: "无法连接服务器，请重试。",
    server_failed: "服务器出现问题，请稍后再试。",
    fix_fields: "请修改标出的内容。",
    pending_title: "申请已提交",
    pending: "辖区民警正在审核您的申请。本页面会自动更新，请保持打开。",
    waiting: "已等待 {time}",
    rejected_title: "申请未通过",
    reason: "原因",
    apply_again: "重新申请",
    certificate_title: "电子住宿凭证",
    certificate_number: "凭证编号",
    holder: "持有人",
    document: "证件",
    place: "住所",
    valid: "有效期",
    show_qr: "需要时请出示此二维码，任何人扫码即可核验。",
    check_it: "核验此凭证",
    revoked: "此凭证已被公安机关吊销。",
    new_application: "为其他住客申请",
    live_lost: "连接中断，正在重新连接…",
    kept: "本机保存的其他申请",
    kept_pending: "等待审核",
    kept_rejected: "未通过",
  },
};
const text = translator(TEXTS);
const MAX_PHOTO_BYTES = 8 * 1024 * 1024;
// Phones take photos of several megabytes; 1600 pixels are what the officer needs, and travel fast.
const PHOTO_SIDE = 1600;
const NATIONALITY_REQUIRED = new Set(["passport", "foreign_permanent_residence"]);

const token = decodeURIComponent(location.pathname.split("/")[2] || "");
const dwellingBox = document.getElementById("dwelling");
const view = document.getElementById("view");
let lang = initialLanguage();
const t = (key, params) => text(lang, key, params);

let dwelling = null;
// Each: {id, secret, status, full_name, certificate_number, rejection_reason, created_at, certificate}.
let applications = keptApplications(token);
// The one on show (null: the form): the one the address names, else one still waiting, else the newest.
let application = applications.find((a) => `#${a.id}` === decodeURIComponent(location.hash))
  ?? applications.find((a) => a.status === "pending") ?? applications[0] ?? null;
let live = null; // the EventSource of the shown application while pending
let ticker = null; // the waiting-time timer

/** Keep this application (new, or newer news of a kept one) and show it. */
function keep(value) {
  application = value;
  const at = applications.findIndex((a) => a.id === value.id);
  if (at >= 0) applications[at] = value;
  else applications.unshift(value);
  saveApplications(token, applications);
}

function forget(value) {
  applications = applications.filter((a) => a.id !== value.id);
  saveApplications(token, applications);
}

// ---- the form: built once, so a language switch keeps what was typed and the chosen photo ----

const values = { full_name: "", document_type: "resident_id", document_number: "", nationality: "", phone: "",
  check_out: localDate(1) };
let photo = null; // the File to send
let pending = null; // {key, body}: a retry sends exactly this again
const fields = {};
const status = el("p", { class: "form-status hidden", role: "status", "aria-live": "polite" });
const preview = el("img", { class: "photo-preview hidden", alt: "" });
const submitButton = el("button", { type: "submit", class: "submit wide" });
const form = el("form", { class: "apply-form", novalidate: true, onsubmit: submit });

function field(name, control, extra = null) {
  const label = el("label", { for: `apply-${name}` });
  const error = el("p", { class: "field-error", id: `apply-${name}-error`, "aria-live": "polite" });
  control.id = `apply-${name}`;
  control.setAttribute("aria-describedby", error.id);
  const wrapper = el("div", { class: "field" }, label, extra, control, error);
  fields[name] = { label, control, error, wrapper };
  return wrapper;
}

function input(name, attrs) {
  return el("input", { name, value: values[name], ...attrs, oninput: (e) => { values[name] = e.target.value; recheckMarked(name); } });
}

function buildForm() {
  const type = el("select", { name: "document_type", onchange: (e) => { values.document_type = e.target.value; relabel(); recheckMarked("document_number", "nationality"); } });
  const nationality = el("select", { name: "nationality", onchange: (e) => { values.nationality = e.target.value; recheckMarked("nationality", "document_number"); } });
  const camera = el("input", { type: "file", name: "photo", accept: "image/*", capture: "user", onchange: choosePhoto });
  const consent = el("input", { type: "checkbox", name: "consent", value: "true", onchange: () => recheckMarked("consent") });
  const consentText = el("span", { id: "apply-consent-text" });
  fields.consent = {
    control: consent,
    label: consentText,
    error: el("p", { class: "field-error", id: "apply-consent-error", "aria-live": "polite" }),
  };
  consent.id = "apply-consent";
  consent.setAttribute("aria-describedby", "apply-consent-error");
  form.replaceChildren(
    el("p", { class: "intro", id: "apply-intro" }),
    field("full_name", input("full_name", { autocomplete: "name", maxlength: "100" })),
    field("document_type", type),
    field("document_number", input("document_number", { autocomplete: "off", autocapitalize: "characters", maxlength: "40" })),
    field("nationality", nationality),
    field("phone", input("phone", { type: "tel", autocomplete: "tel", maxlength: "32" })),
    field("check_out", input("check_out", { type: "date", min: localDate(0) })),
    field("photo", camera, el("p", { class: "hint", id: "apply-photo-hint" })),
    preview,
    el("label", { class: "check consent", for: "apply-consent" }, consent, consentText),
    fields.consent.error,
    el("p", { class: "actions" }, submitButton),
    status,
  );
}

function relabel() {
  for (const name of ["full_name", "document_type", "document_number", "nationality", "phone", "check_out", "photo"]) {
    fields[name].label.textContent = t(name);
  }
  fields.consent.label.textContent = t("consent");
  form.querySelector("#apply-intro").textContent = t("intro");
  form.querySelector("#apply-photo-hint").textContent = t("photo_hint");
  submitButton.textContent = t("submit");
  fields.document_type.control.replaceChildren(...DOCUMENT_TYPES.map((type) =>
    el("option", { value: type, selected: type === values.document_type }, documentLabel(lang, type))));
  fields.nationality.control.replaceChildren(
    el("option", { value: "" }, t("choose")),
    ...nationalityOptions(lang).map((o) => el("option", { value: o.code, selected: o.code === values.nationality }, o.name)));
  fields.nationality.wrapper.classList.toggle("hidden", !NATIONALITY_REQUIRED.has(values.document_type));
  for (const entry of Object.values(fields)) {
    if (entry.code) entry.error.textContent = entry.message ?? messageFor(lang, entry.code);
  }
  if (status.dataset.key) status.textContent = t(status.dataset.key);
}

async function choosePhoto(event) {
  const file = event.target.files?.[0] ?? null;
  photo = file ? await shrink(file) : null;
  pending = null; // another photo: another application
  preview.classList.toggle("hidden", !photo);
  if (photo) preview.src = await dataUrl(photo); // a data: URL, which the pages' content policy allows
  recheckMarked("photo");
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** The photo redrawn at most PHOTO_SIDE pixels wide, upright, as JPEG; the original where the browser cannot. */
async function shrink(file) {
  if (!("createImageBitmap" in window)) return file;
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = el("canvas", { width: Math.round(bitmap.width * scale), height: Math.round(bitmap.height * scale) });
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
    return blob ? new File([blob], "photo.jpg", { type: "image/jpeg" }) : file;
  } catch {
    return file; // not an image this browser can draw: the server judges the original and says why
  }
}

function setError(name, code, message = null) {
  const entry = fields[name];
  entry.code = code;
  entry.message = message;
  entry.error.textContent = code ? message ?? messageFor(lang, code) : "";
  if (code) entry.control.setAttribute("aria-invalid", "true");
  else entry.control.removeAttribute("aria-invalid");
}

function say(kind, key, message = null) {
  status.className = kind ? `form-status ${kind}` : "form-status hidden";
  status.dataset.key = message ? "" : key ?? "";
  status.textContent = message ?? (key ? t(key) : "");
}

/** The client-side checks (the server repeats them all): an error code, or null, for each field. */
function fieldCodes() {
  const consent = fields.consent.control.checked;
  const nationality = NATIONALITY_REQUIRED.has(values.document_type) ? values.nationality || null : null;
  const dates = checkDates("", values.check_out); // "": arriving today
  const codes = {
    full_name: values.full_name.trim() ? null : "required",
    document_number: checkDocument(values.document_type, values.document_number, nationality),
    nationality: null,
    phone: checkPhone(values.phone),
    check_out: dates?.code ?? null,
    photo: photo ? (photo.size > MAX_PHOTO_BYTES ? "photo_too_large" : null) : "required",
    consent: consent ? null : "consent_required",
  };
  if (codes.document_number?.startsWith("nationality")) [codes.nationality, codes.document_number] = [codes.document_number, null];
  return codes;
}

function showError(name, code) {
  setError(name, code, code && TEXTS[lang][code] ? t(code) : null);
}

/** Mark every field that is wrong; true when the form may be sent. */
function checkForm() {
  const codes = fieldCodes();
  for (const [name, code] of Object.entries(codes)) showError(name, code);
  const first = Object.keys(codes).find((name) => codes[name]);
  if (first) fields[first].control.focus();
  return !first;
}

/** After an edit of ``names``, a marked one loses its mark once it is right; the banner goes with the last mark. */
function recheckMarked(...names) {
  const codes = fieldCodes();
  for (const name of names) {
    if (fields[name].code && !codes[name]) showError(name, null);
  }
  if (status.dataset.key === "fix_fields" && !Object.values(fields).some((entry) => entry.code)) say(null);
}

function formBody() {
  const body = new FormData();
  for (const [name, value] of Object.entries(values)) {
    if (name !== "nationality" || NATIONALITY_REQUIRED.has(values.document_type)) body.append(name, value.trim());
  }
  body.append("consent", "true");
  body.append("photo", photo, photo.name || "photo.jpg");
  return body;
}

async function submit(event) {
  event.preventDefault();
  if (!checkForm()) {
    say("error", "fix_fields");
    return;
  }
  pending ??= { key: newIdempotencyKey(), body: formBody() };
  submitButton.disabled = true;
  say("notice", "sending");
  try {
    const accepted = await postIdempotent(`/api/v1/public/dwellings/${encodeURIComponent(token)}/verifications`,
      pending.body, { key: pending.key, lang: acceptLanguage(lang), onRetry: () => say("notice", "retrying") });
    pending = null;
    keep({ ...accepted, full_name: values.full_name.trim(), created_at: new Date().toISOString() });
    show();
  } catch (err) {
    if (isTransient(err)) {
      say("error", err instanceof ApiError ? "server_failed" : "network_failed");
    } else {
      pending = null; // answered and refused: nothing was stored
      for (const e of err.problem?.errors ?? []) if (fields[e.field]) setError(e.field, e.code, e.message);
      say("error", null, err.message);
    }
  } finally {
    submitButton.disabled = false;
  }
}

// ---- the application's status, live ----

const statusPath = () => `/api/v1/public/verifications/${application.id}`;
const secretQuery = () => `secret=${encodeURIComponent(application.secret)}`;

function follow() {
  if (live?.applicationId === application?.id || application?.status !== "pending") return;
  stopFollowing();
  const followed = application;
  live = new EventSource(`${statusPath()}/events?${secretQuery()}`);
  live.applicationId = followed.id;
  live.addEventListener("status", (event) => {
    const current = JSON.parse(event.data);
    const shown = application;
    keep({ ...(applications.find((a) => a.id === followed.id) ?? followed), ...current });
    if (current.status !== "pending") stopFollowing();
    if (shown && shown.id !== followed.id) application = shown; // news of another: the shown one stays
    show();
  });
  // The browser reconnects by itself; the first event after it is the current state again.
  live.addEventListener("error", () => {
    const note = view.querySelector(".live-note");
    if (note) note.textContent = t("live_lost");
  });
}

function stopFollowing() {
  live?.close();
  live = null;
}

async function loadCertificate(of = application) {
  const path = `/api/v1/public/certificates/${encodeURIComponent(of.certificate_number)}`;
  const secret = `secret=${encodeURIComponent(of.secret)}`;
  const certificate = await retrying(() => api(`${path}?${secret}`, { lang: acceptLanguage(lang) }));
  // The QR image is kept with the certificate, so the phone can show it without a network.
  const svg = await (await fetch(`${path}/qr.svg?${secret}`)).text();
  const shown = application;
  keep({ ...of, certificate: { ...certificate, qr: `data:image/svg+xml,${encodeURIComponent(svg)}` } });
  if (shown && shown.id !== of.id) application = shown;
  show();
}

function statusCard() {
  if (application.status === "pending") {
    const waited = el("p", { class: "waiting muted" });
    const tick = () => {
      waited.textContent = t("waiting", { time: formatDuration(lang, (Date.now() - Date.parse(application.created_at)) / 1000) });
    };
    tick();
    ticker = setInterval(tick, 1000);
    return el("section", { class: "card application-status pending", role: "status" },
      el("h2", {}, t("pending_title")),
      el("p", { class: "spinner-line" }, el("span", { class: "spinner", "aria-hidden": "true" }), t("pending")),
      waited,
      el("p", { class: "live-note muted" }));
  }
  if (application.status === "rejected") {
    return el("section", { class: "card application-status rejected" },
      el("h2", { class: "error" }, t("rejected_title")),
      el("dl", { class: "facts" }, el("dt", {}, t("reason")), el("dd", { class: "rejection-reason" }, application.rejection_reason ?? "")),
      el("p", {}, el("button", { type: "button", class: "wide", onclick: startOver }, t("apply_again"))));
  }
  const c = application.certificate;
  if (!c) {
    loadCertificate().catch(() => say("error", "network_failed"));
    return el("section", { class: "card" }, el("p", { class: "muted" }, t("loading")));
  }
  return el("section", { class: "card certificate", "aria-label": t("certificate_title") },
    el("h2", {}, `✓ ${t("certificate_title")}`),
    c.revoked ? el("p", { class: "error revoked", role: "alert" }, t("revoked")) : null,
    el("img", { class: "certificate-qr", src: c.qr, alt: `${t("certificate_title")} ${c.number}` }),
    el("p", { class: "muted" }, t("show_qr")),
    el("dl", { class: "facts" },
      el("dt", {}, t("certificate_number")), el("dd", { class: "certificate-number" }, c.number),
      el("dt", {}, t("holder")), el("dd", {}, c.holder),
      el("dt", {}, t("document")), el("dd", { class: "masked" }, c.document_masked),
      el("dt", {}, t("place")), el("dd", {}, c.dwelling.name, el("br"), el("span", { class: "muted" }, c.dwelling.address)),
      el("dt", {}, t("valid")), el("dd", {}, `${c.check_in} → ${c.check_out}`)),
    el("p", {}, el("a", { class: "button secondary verify-link", href: c.verify_url, target: "_blank", rel: "noopener" }, t("check_it"))),
    el("p", {}, el("button", { type: "button", class: "wide secondary new-application", onclick: () => open(null) },
      t("new_application"))));
}

/** The other applications kept on this phone, each a button that shows it. */
function keptCard() {
  const others = applications.filter((a) => a.id !== application?.id);
  if (!others.length) return "";
  const state = (a) => (a.status === "pending" ? t("kept_pending") : a.status === "rejected" ? t("kept_rejected") : a.certificate_number);
  return el("section", { class: "card kept-applications", "aria-label": t("kept") },
    el("h2", {}, t("kept")),
    el("ul", { class: "kept-list" }, ...others.map((a) => el("li", {},
      el("a", { href: applicationUrl(token, a), class: "kept-application", onclick: (event) => { event.preventDefault(); open(a); } },
        el("span", { class: "kept-name" }, a.certificate?.holder ?? a.full_name ?? ""), " ",
        el("span", { class: "muted" }, state(a)))))));
}

function open(chosen) {
  application = chosen;
  history.replaceState(null, "", chosen ? applicationUrl(token, chosen) : location.pathname);
  show();
  window.scrollTo(0, 0);
}

/** After a refusal: that application is forgotten and the form opens again. */
function startOver() {
  stopFollowing();
  forget(application);
  open(null);
}

// ---- rendering ----

function show() {
  clearInterval(ticker);
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  dwellingBox.replaceChildren(dwelling
    ? el("div", {}, el("h2", { class: "dwelling-name" }, dwelling.name), el("p", { class: "dwelling-address" }, dwelling.address))
    : el("p", { class: "muted" }, t("loading")));
  if (application) {
    view.replaceChildren(statusCard(), keptCard());
    follow();
  } else {
    relabel();
    view.replaceChildren(el("section", { class: "card" }, form), keptCard(), privacyNotice(lang));
  }
}

async function start() {
  applyLanguage(lang);
  document.getElementById("lang").replaceChildren(languageSwitch(lang, (chosen) => {
    lang = chosen;
    show();
  }));
  buildForm();
  show();
  try {
    dwelling = await retrying(() => api(`/api/v1/public/dwellings/${encodeURIComponent(token)}`, { lang: acceptLanguage(lang) }));
  } catch (err) {
    dwellingBox.replaceChildren(el("p", { class: "error", role: "alert" }, isTransient(err) ? t("network_failed") : err.message));
    if (!application) view.replaceChildren();
    return;
  }
  const shown = application;
  for (const kept of [...applications]) {
    // The status may have changed while the page was closed.
    const path = `/api/v1/public/verifications/${kept.id}?secret=${encodeURIComponent(kept.secret)}`;
    try {
      keep({ ...kept, ...(await api(path, { lang: acceptLanguage(lang) })) });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) forget(kept); // purged
    }
  }
  application = shown && applications.find((a) => a.id === shown.id) || null;
  show();
  // Certificates kept from before are fetched again: one may have been revoked since.
  for (const kept of applications.filter((a) => a.status === "approved")) loadCertificate(kept).catch(() => {});
}

start();

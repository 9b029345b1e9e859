// The guest's registration page at /r/{token}: the dwelling, the form, the receipt.
import { api, ApiError, el, isTransient, newIdempotencyKey, postIdempotent, retrying } from "/static/api.js";
import { acceptLanguage, applyLanguage, initialLanguage, languageSwitch, translator } from "/static/lang.js";
import { applicationUrl, keptApplications } from "/static/kept-applications.js";
import { privacyLink, privacyNotice } from "/static/privacy-notice.js";
import { createStayForm, emptyValues } from "/static/stay-form.js";

const TEXTS = {
  en: {
    title: "Guest registration",
    loading: "Loading…",
    submit: "Register",
    sending: "Sending…",
    retrying: "Network problem, retrying…",
    network_failed: "Could not reach the server. What you entered is saved on this phone: please try again.",
    server_failed: "The server has a problem. What you entered is saved on this phone: please try again in a minute.",
    try_again: "Try again",
    changed_after_failure: "Your entries changed after a network problem. Please check them and press Register again.",
    success: "Registration complete",
    receipt_code: "Receipt code",
    keep_code: "Keep this code: show it to your host or the police when asked.",
    place: "Place",
    stay: "Stay",
    guests: "Guests",
    checkout: "Check out",
    confirm_checkout: "Check out now? Your host and the police will see that you have left.",
    checked_out: "Checked out",
    register_another: "Register another guest",
    show_receipts: "Show my registrations",
    no_id: "No ID with you? Apply online →",
    certificates: "Electronic accommodation certificates on this phone",
    open_certificate: "Show",
    pending_application: "Application waiting for review",
  },
  zh: {
    title: "入住登记",
    loading: "加载中…",
    submit: "提交登记",
    sending: "正在提交…",
    retrying: "网络不佳，正在重试…",
    network_failed: "无法连接服务器。已填写的内容保存在本机，请再试一次。",
    server_failed: "服务器出现问题。已填写的内容保存在本机，请稍后再试。",
    try_again: "重试",
    changed_after_failure: "网络中断后内容有改动，请核对后再次提交。",
    success: "登记成功",
    receipt_code: "登记回执码",
    keep_code: "请保存此回执码，房东或民警查验时出示。",
    place: "住所",
    stay: "入住时间",
    guests: "住客",
    checkout: "退房",
    confirm_checkout: "确定现在退房吗？房东和民警将看到您已离开。",
    checked_out: "已退房",
    register_another: "登记其他住客",
    show_receipts: "查看我的登记",
    no_id: "没带证件？在线申请 →",
    certificates: "本机保存的电子住宿凭证",
    open_certificate: "出示",
    pending_application: "申请等待审核",
  },
};
const text = translator(TEXTS);

const token = decodeURIComponent(location.pathname.split("/").pop());
const applyLink = document.getElementById("apply-link");
applyLink.href = `/r/${encodeURIComponent(token)}/apply`; // remote verification
const dwellingBox = document.getElementById("dwelling");
const view = document.getElementById("view");
let lang = initialLanguage();
let dwelling = null; // the public facts, or null
let dwellingError = null; // the problem's title when the code is unknown or retired
let form = null;
let showing = "form"; // or "receipts"
const t = (key) => text(lang, key);

// ---- what this phone keeps: the draft (values and Idempotency-Key) and the receipts ----

const DRAFT = `vh.draft.${token}`;
const RECEIPTS = `vh.receipts.${token}`;
const KEEP_RECEIPTS_DAYS = 30;

function load(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || "null");
  } catch {
    return null;
  }
}

function save(key, value) {
  try {
    if (value == null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or disabled: the page still works, only a reload forgets */
  }
}

function saveDraft(changes) {
  save(DRAFT, { ...(load(DRAFT) || {}), ...changes });
}

function receipts() {
  const cutoff = new Date(Date.now() - KEEP_RECEIPTS_DAYS * 86400e3).toISOString().slice(0, 10);
  return (load(RECEIPTS) || []).filter((r) => r && r.receipt_code && (r.check_out || "") >= cutoff);
}

/** A new receipt goes first; a known one is updated where it is. */
function keepReceipt(receipt) {
  const list = receipts();
  const at = list.findIndex((r) => r.receipt_code === receipt.receipt_code);
  if (at >= 0) list[at] = receipt;
  else list.unshift(receipt);
  save(RECEIPTS, list);
}

// ---- rendering ----

function render() {
  document.title = `${t("title")} — ${dwelling?.name ?? ""}`.replace(/ — $/, "");
  document.getElementById("title").textContent = t("title");
  renderDwelling();
  applyLink.textContent = t("no_id");
  applyLink.parentElement.classList.toggle("hidden", !dwelling);
  if (!dwelling && !dwellingError) return;
  if (showing === "receipts") renderReceipts();
  else renderForm();
  view.prepend(certificatesCard());
}

/** Certificates (and applications still waiting) this phone was given here: scanning the door again finds them. */
function certificatesCard() {
  const kept = keptApplications(token).filter((a) => a.status !== "rejected");
  if (!kept.length) return "";
  return el("section", { class: "card kept-certificates", "aria-label": t("certificates") },
    el("h2", {}, t("certificates")),
    el("ul", { class: "kept-list" }, ...kept.map((a) => el("li", {},
      el("span", { class: "kept-name" }, a.certificate?.holder ?? a.full_name ?? ""), " ",
      el("span", { class: "muted" }, a.status === "approved" ? a.certificate_number ?? "" : t("pending_application")), " ",
      el("a", { class: "button secondary", href: applicationUrl(token, a) }, t("open_certificate"))))));
}

function renderDwelling() {
  if (dwellingError) {
    dwellingBox.replaceChildren(el("p", { class: "error", role: "alert" }, dwellingError));
  } else if (dwelling) {
    dwellingBox.replaceChildren(
      el("h2", { class: "dwelling-name" }, dwelling.name),
      el("p", { class: "dwelling-address" }, dwelling.address),
      el("p", { class: "muted" }, dwelling.area_name ?? ""),
    );
  } else {
    dwellingBox.replaceChildren(el("p", { class: "muted" }, t("loading")));
  }
}

function renderForm() {
  if (dwellingError) {
    // A retired or unknown code takes no registrations; earlier receipts still show.
    view.replaceChildren();
    if (receipts().length) renderReceipts();
    return;
  }
  if (!form) {
    form = createStayForm({
      lang,
      values: load(DRAFT)?.values ?? emptyValues(),
      idPrefix: "guest",
      submitLabel: (l) => text(l, "submit"),
      onChange: (values) => saveDraft({ values }),
      onSubmit: register,
    });
  } else {
    form.setLanguage(lang);
  }
  const card = el("section", { class: "card" }, form.element);
  const toReceipts = receipts().length
    ? el("p", {}, el("button", { type: "button", class: "link", onclick: () => show("receipts") }, t("show_receipts")))
    : null;
  view.replaceChildren(card, privacyNotice(lang), toReceipts ?? "");
}

function renderReceipts() {
  const list = receipts();
  const cards = list.map((receipt, index) => receiptCard(receipt, index === 0));
  const another = dwellingError
    ? null
    : el("p", {}, el("button", { type: "button", class: "secondary wide", onclick: registerAnother }, t("register_another")));
  view.replaceChildren(...cards, another ?? "");
}

function receiptCard(receipt, newest) {
  const checkedOut = Boolean(receipt.checked_out_at);
  const status = el("p", { class: "receipt-status", role: "status", "aria-live": "polite" });
  const checkout = checkedOut
    ? el("p", { class: "notice checked-out" }, t("checked_out"))
    : el("button", {
      type: "button", class: "secondary wide",
      onclick: async (event) => {
        const button = event.currentTarget;
        if (!confirm(t("confirm_checkout"))) return;
        button.disabled = true;
        try {
          const updated = await retrying(() => api(
            `/api/v1/public/receipts/${encodeURIComponent(receipt.receipt_code)}/checkout`,
            { method: "POST", lang: acceptLanguage(lang) },
          ));
          keepReceipt(updated);
          renderReceipts();
        } catch (err) {
          status.className = "receipt-status error";
          status.textContent = isTransient(err) ? t("network_failed") : err.message;
          button.disabled = false;
        }
      },
    }, t("checkout"));
  return el("section", { class: "card receipt", "aria-label": t("receipt_code") },
    newest && !checkedOut ? el("p", { class: "ok success", role: "status" }, `✓ ${t("success")}`) : null,
    // e.g. the number is already registered as present elsewhere: the guest is registered all the same.
    ...(newest ? receipt.notices || [] : []).map((n) => el("p", { class: "notice", "data-notice": n.code }, n.message)),
    el("p", { class: "receipt-label" }, t("receipt_code")),
    el("p", { class: "receipt-code" }, receipt.receipt_code),
    el("p", { class: "muted" }, t("keep_code")),
    el("dl", { class: "facts" },
      el("dt", {}, t("place")),
      el("dd", {}, receipt.dwelling?.name ?? "", el("br"), el("span", { class: "muted" }, receipt.dwelling?.address ?? "")),
      el("dt", {}, t("stay")),
      el("dd", {}, `${receipt.check_in} → ${receipt.check_out}`),
      el("dt", {}, t("guests")),
      el("dd", {}, el("ul", { class: "guests" }, ...(receipt.guests || []).map((g) =>
        el("li", {}, el("span", { class: "guest-name" }, g.full_name), " ",
          g.document_masked ? el("span", { class: "masked" }, g.document_masked) : null))))),
    checkout,
    status,
    el("p", { class: "muted" }, privacyLink(lang)),
  );
}

function show(what) {
  showing = what;
  render();
  window.scrollTo(0, 0);
}

function registerAnother() {
  // An unfinished form (from "Show my registrations") is kept; otherwise a new, empty one.
  if (!load(DRAFT)) {
    form = null;
    save(DRAFT, { values: emptyValues() });
  }
  show("form");
}

// ---- registering ----

async function register(stayForm) {
  const key = load(DRAFT)?.key || newIdempotencyKey();
  // The key is kept with the draft: a retry, even after a reload, is the same registration.
  saveDraft({ values: stayForm.values, key });
  stayForm.setBusy(true);
  stayForm.setStatus("notice", (l) => text(l, "sending"));
  try {
    const receipt = await postIdempotent(`/api/v1/public/dwellings/${encodeURIComponent(token)}/stays`, stayForm.body(), {
      key,
      lang: acceptLanguage(lang),
      onRetry: () => stayForm.setStatus("notice", (l) => text(l, "retrying")),
    });
    keepReceipt(receipt);
    save(DRAFT, null);
    form = null;
    show("receipts");
  } catch (err) {
    if (!isTransient(err)) {
      // The server answered and stored nothing: the next attempt is a new registration.
      saveDraft({ key: null });
      if (err.status === 404 || err.status === 410) {
        dwellingError = err.message; // the code was retired meanwhile: no form any more
        render();
      } else if (err.problem?.code === "idempotency_key_reused") {
        stayForm.setStatus("error", (l) => text(l, "changed_after_failure"));
      } else if (err.problem?.errors?.length) {
        stayForm.showProblem(err.problem);
      } else {
        stayForm.setStatus("error", err.message);
      }
    } else {
      stayForm.setStatus("error", (l) => text(l, err instanceof ApiError ? "server_failed" : "network_failed"));
    }
  } finally {
    stayForm.setBusy(false);
  }
}

// ---- start ----

async function loadDwelling() {
  try {
    dwelling = await retrying(
      () => api(`/api/v1/public/dwellings/${encodeURIComponent(token)}`, { lang: acceptLanguage(lang) }),
      { onRetry: () => dwellingBox.replaceChildren(el("p", { class: "notice" }, t("retrying"))) },
    );
    dwellingError = null;
  } catch (err) {
    if (isTransient(err)) {
      dwellingBox.replaceChildren(
        el("p", { class: "error" }, t("network_failed")),
        el("button", { type: "button", onclick: loadDwelling }, t("try_again")),
      );
      return;
    }
    dwelling = null;
    dwellingError = err.message;
  }
  render();
}

// Refresh the kept receipts (a host may have checked the guest out); quietly, when online.
async function refreshReceipts() {
  for (const receipt of receipts().filter((r) => !r.checked_out_at).slice(0, 5)) {
    try {
      keepReceipt(await api(`/api/v1/public/receipts/${encodeURIComponent(receipt.receipt_code)}`, { lang: acceptLanguage(lang) }));
    } catch {
      /* offline or purged: keep what we have */
    }
  }
  if (showing === "receipts") renderReceipts();
}

applyLanguage(lang);
document.getElementById("lang").replaceChildren(languageSwitch(lang, (chosen) => {
  lang = chosen;
  if (dwellingError) loadDwelling(); // the server's text, in the newly chosen language
  else render();
}));
showing = !load(DRAFT) && receipts().length ? "receipts" : "form";
render();
await loadDwelling();
if (receipts().length) refreshReceipts();

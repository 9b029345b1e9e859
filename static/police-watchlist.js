// The police view's watchlist: add a number (optionally until a date), see who added each entry, remove one.
import { el, problemText, staffApi as api } from "/static/api.js";
import { apiLanguage, locale, onLanguageChange, t } from "/static/police-lang.js";

let entries = [];

function showError(err) {
  const box = document.getElementById("watch-error");
  box.textContent = problemText(err);
  box.classList.remove("hidden");
}

function render() {
  const day = (iso) => new Date(iso).toLocaleDateString(locale());
  document.getElementById("watchlist").replaceChildren(...(entries.length ? entries.map((e) => el("li", { "data-entry": String(e.id) },
    el("span", { class: "masked" }, e.document_masked), ` — ${e.note}`, el("br"),
    el("span", { class: "muted" }, t("watch_added_by", { name: e.created_by, when: day(e.created_at) }),
      e.expires_at ? ` · ${t("watch_expires_on", { when: day(e.expires_at) })}` : ""),
    el("button", { type: "button", class: "link", onclick: () => remove(e) }, t("watch_remove"))))
    : [el("li", { class: "muted" }, t("watch_empty"))]));
}

async function load() {
  entries = await api("/api/v1/police/watchlist", { lang: apiLanguage() });
  render();
}

async function remove(entry) {
  if (!confirm(t("watch_confirm_remove"))) return;
  try {
    await api(`/api/v1/police/watchlist/${entry.id}`, { method: "DELETE", lang: apiLanguage() });
    await load();
  } catch (err) {
    showError(err);
  }
}

async function add(event) {
  event.preventDefault();
  const form = event.target;
  document.getElementById("watch-error").classList.add("hidden");
  // An expiry date means the end of that day on this device's clock.
  const expires = form.expires.value ? new Date(`${form.expires.value}T23:59:59`).toISOString() : null;
  try {
    await api("/api/v1/police/watchlist", { method: "POST", lang: apiLanguage(),
      body: { document_number: form.number.value.trim(), note: form.note.value.trim(), expires_at: expires } });
    form.reset();
    await load();
  } catch (err) {
    showError(err);
  }
}

export async function startWatchlist() {
  const form = document.getElementById("watch");
  form.addEventListener("submit", add);
  form.querySelector("button").disabled = false; // disabled until here: no number leaves in a native submission
  onLanguageChange(render);
  await load();
}

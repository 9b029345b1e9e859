// The police view's alert inbox: unacknowledged alerts on load, new ones live (with a sound and a
// desktop notification where the browser allows), the dwelling's current guests, acknowledge.
import { el, staffApi as api } from "/static/api.js";
import { apiLanguage, locale, onLanguageChange, t } from "/static/police-lang.js";

const PAGE = 50;
const shown = new Map(); // id -> alert, unacknowledged, newest first when listed
const openGuests = new Map(); // id -> the dwelling's current stays (null while loading), for unfolded alerts
let next = null; // `before` of the next (older) page, or null
let audio = null;

function when(iso) {
  return new Date(iso).toLocaleString(locale());
}

function render() {
  const list = document.getElementById("alerts");
  const alerts = [...shown.values()].sort((a, b) => b.id - a.id);
  document.getElementById("alerts-count").textContent = alerts.length ? String(alerts.length) : "";
  const waiting = document.getElementById("alerts-waiting");
  waiting.textContent = t("alerts_waiting", { n: alerts.length });
  waiting.classList.toggle("hidden", !alerts.length);
  list.replaceChildren(...(alerts.length ? alerts.map(item) : [el("li", { class: "empty muted" }, t("no_alerts"))]));
  document.getElementById("alerts-more").classList.toggle("hidden", next === null);
}

function where(other) {
  return other.dwelling_name ? `${other.dwelling_name} (${other.area_name})` : other.area_name;
}

// The other stay of a duplicate presence may be in the same dwelling (one person registered twice, or
// under two names, in one room): naming that dwelling as "elsewhere" reads as a mistake.
function alsoPresent(alert) {
  const other = alert.details.other_stay;
  return other.dwelling_id === alert.dwelling_id ? t("also_present_here") : t("also_present_in", { where: where(other) });
}

function item(alert) {
  const guests = el("div", { class: "alert-guests", id: `alert-guests-${alert.id}` });
  const unfolded = openGuests.has(alert.id);
  if (unfolded) showGuests(alert, guests);
  return el("li", { class: `alert ${alert.kind}`, "data-alert": String(alert.id) },
    el("p", { class: "alert-head" }, el("strong", {}, t(`alert_${alert.kind}`)),
      alert.document_masked ? el("span", { class: "masked" }, alert.document_masked) : null,
      el("time", { datetime: alert.created_at, class: "muted" }, when(alert.created_at))),
    alert.dwelling_name ? el("p", {}, `${alert.dwelling_name}, ${alert.dwelling_address}`, el("span", { class: "muted" }, ` · ${alert.area_name}`)) : el("p", {}, alert.area_name),
    alert.kind === "watchlist"
      ? el("p", { class: "alert-note" }, alert.note ?? t("entry_of", { office: alert.watchlist_area_name }))
      : null,
    alert.details?.level ? el("p", { class: "alert-level" }, t(`level_${alert.details.level}`)) : null,
    alert.details?.other_stay ? el("p", {}, alsoPresent(alert)) : null,
    el("div", { class: "actions" },
      alert.dwelling_id
        ? el("button", { type: "button", class: "secondary", "aria-expanded": String(unfolded),
          "aria-controls": guests.id, onclick: () => toggleGuests(alert) }, t(unfolded ? "hide_guests" : "current_guests"))
        : null,
      el("button", { type: "button", class: "acknowledge", onclick: (event) => acknowledge(alert, event.target) }, t("acknowledge"))),
    guests);
}

// What an officer may open about the stay: the dwelling's current guests (numbers masked), the
// alert's own stay marked; fetched each time they are unfolded.
async function toggleGuests(alert) {
  if (openGuests.has(alert.id)) {
    openGuests.delete(alert.id);
    render();
    return;
  }
  openGuests.set(alert.id, null);
  render();
  try {
    openGuests.set(alert.id, await api(`/api/v1/dwellings/${alert.dwelling_id}/stays?current=true`, { lang: apiLanguage() }));
  } catch (err) {
    openGuests.delete(alert.id);
    showError(err);
  }
  render();
}

function showGuests(alert, box) {
  const stays = openGuests.get(alert.id);
  if (stays === null) {
    box.replaceChildren(el("p", { class: "muted" }, "…"));
    return;
  }
  box.replaceChildren(stays.length
    ? el("ul", { class: "guests" }, ...stays.flatMap((stay) => stay.guests.map((g) =>
      el("li", { class: stay.id === alert.stay_id ? "this-stay" : null },
        `${g.full_name} `, g.document_masked ? el("span", { class: "masked" }, g.document_masked) : null,
        " ", el("span", { class: "muted dates" }, `${stay.check_in} → ${stay.check_out}`),
        stay.id === alert.stay_id ? el("strong", {}, ` · ${t("this_stay")}`) : null))))
    : el("p", { class: "muted" }, t("no_current_guests")));
}

function showError(err) {
  const box = document.getElementById("alerts-error");
  box.textContent = err.message;
  box.classList.remove("hidden");
}

async function acknowledge(alert, button) {
  button.disabled = true;
  document.getElementById("alerts-error").classList.add("hidden");
  try {
    await api(`/api/v1/police/alerts/${alert.id}/acknowledge`, { method: "POST", lang: apiLanguage() });
    shown.delete(alert.id);
    openGuests.delete(alert.id);
    render();
  } catch (err) {
    button.disabled = false;
    showError(err);
  }
}

async function loadPage() {
  const query = new URLSearchParams({ unacknowledged: "true", limit: String(PAGE) });
  if (next !== null) query.set("before", String(next));
  const page = await api(`/api/v1/police/alerts?${query}`, { lang: apiLanguage() });
  for (const alert of page.items) shown.set(alert.id, alert);
  next = page.next;
  render();
}

// ---- a new alert: a sound and a desktop notification, where the browser allows ----

// Browsers let a page play sound only after the person has interacted with it: the audio is
// unlocked on the first click anywhere.
function unlockAudio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (Context && !audio) audio = new Context();
}

function beep() {
  if (!audio || audio.state !== "running") return;
  for (const [start, pitch] of [[0, 880], [0.25, 660]]) {
    const tone = audio.createOscillator();
    const volume = audio.createGain();
    tone.frequency.value = pitch;
    volume.gain.setValueAtTime(0.2, audio.currentTime + start);
    volume.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + start + 0.2);
    tone.connect(volume).connect(audio.destination);
    tone.start(audio.currentTime + start);
    tone.stop(audio.currentTime + start + 0.2);
  }
}

function notify(alert) {
  beep();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const body = [alert.dwelling_name, alert.note].filter(Boolean).join(" — ") || alert.area_name;
  new Notification(t("notification_title", { kind: t(`alert_${alert.kind}`) }), { body, tag: `alert-${alert.id}` });
}

function renderNotificationButton() {
  const button = document.getElementById("alerts-notify");
  if (!("Notification" in window)) {
    button.classList.add("hidden");
    return;
  }
  const permission = Notification.permission;
  button.disabled = permission !== "default";
  button.textContent = t({ granted: "notifications_on", denied: "notifications_blocked" }[permission] || "enable_notifications");
}

/** An `alert` event of the live stream: new ones join the inbox; acknowledged ones (by anyone) leave it. */
export function liveAlert(alert) {
  if (alert.acknowledged_at) {
    if (shown.delete(alert.id)) render();
    return;
  }
  if (shown.has(alert.id)) return; // replayed after a reconnection
  shown.set(alert.id, alert);
  render();
  notify(alert);
}

export async function startAlerts() {
  document.addEventListener("click", unlockAudio, { once: true, capture: true });
  const notifyButton = document.getElementById("alerts-notify");
  notifyButton.addEventListener("click", async () => {
    await Notification.requestPermission();
    renderNotificationButton();
  });
  document.getElementById("alerts-more").addEventListener("click", loadPage);
  onLanguageChange(() => {
    render();
    renderNotificationButton();
  });
  renderNotificationButton();
  await loadPage();
}

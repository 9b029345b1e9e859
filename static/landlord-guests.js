// One dwelling opened from the landlord's table: its facts and actions (edit, posters, rotate the QR code,
// deactivate), its current guests (masked) with check-out, and the walk-in registration.
import { ApiError, el, isTransient, newIdempotencyKey, postIdempotent } from "/static/api.js";
import { kindLabel } from "/static/dwelling-editor.js";
import { acceptLanguage, translator } from "/static/lang.js";
import { createStayForm, documentLabel, relationshipLabel } from "/static/stay-form.js";

const TEXTS = {
  en: {
    close: "Close",
    beds: "beds: {n}",
    edit: "Edit",
    poster_a4: "Poster A4",
    poster_a6: "Poster A6",
    poster_sticker: "Door sticker",
    rotate: "Rotate QR code",
    confirm_rotate: "Make a new QR code for “{name}”? The old code stops working at once: every poster already " +
      "printed for it stops taking registrations (guests who scan it are told to ask you). Print the new poster " +
      "and put it up in place of the old one.",
    rotated: "New QR code for “{name}”: the old one no longer works. Print the new poster and replace the old ones.",
    deactivate: "Stop registrations",
    confirm_deactivate: "Stop registrations at “{name}”? Its QR code stops taking guests until you resume; " +
      "guests already registered stay.",
    deactivated: "“{name}” takes no registrations now.",
    reactivate: "Resume registrations",
    reactivated: "“{name}” takes registrations again.",
    inactive: "Not taking registrations",
    over_capacity: "Over capacity: {guests} guests, beds: {beds}.",
    current_guests: "Current guests",
    no_guests: "No guests at the moment.",
    loading: "Loading…",
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
    confirm_full: "“{name}” sleeps {beds} and has {guests} guests now: registering {arriving} more puts it over " +
      "capacity, and the police see it marked. Register anyway?",
    sending: "Sending…",
    retrying: "Network problem, retrying…",
    network_failed: "Could not reach the server: please try again.",
    registered: "Registered. Receipt code {code}",
    minor: "minor",
  },
  zh: {
    close: "关闭",
    beds: "{n} 个床位",
    edit: "编辑",
    poster_a4: "打印二维码 A4",
    poster_a6: "打印二维码 A6",
    poster_sticker: "打印门贴",
    rotate: "更换二维码",
    confirm_rotate: "为“{name}”生成新的二维码吗？旧二维码将立即失效：已经打印张贴的旧二维码都不能再登记（扫码的住客会被提示联系您）。" +
      "请打印新的二维码，替换掉旧的。",
    rotated: "“{name}”已更换二维码，旧二维码已失效。请打印新的二维码并替换旧的。",
    deactivate: "暂停登记",
    confirm_deactivate: "暂停“{name}”的登记吗？在恢复之前扫码无法登记；已登记的住客不受影响。",
    deactivated: "“{name}”已暂停登记。",
    reactivate: "恢复登记",
    reactivated: "“{name}”已恢复登记。",
    inactive: "暂停登记",
    over_capacity: "超员：{beds} 个床位住了 {guests} 人。",
    current_guests: "在住住客",
    no_guests: "目前没有住客。",
    loading: "加载中…",
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
    confirm_full: "“{name}”有 {beds} 个床位，现有 {guests} 人；再登记 {arriving} 人将超员，民警会看到超员标记。仍要登记吗？",
    sending: "正在提交…",
    retrying: "网络不佳，正在重试…",
    network_failed: "无法连接服务器，请重试。",
    registered: "登记成功，回执码 {code}",
    minor: "未成年人",
  },
};
const text = translator(TEXTS);

/**
 * The panel of one dwelling in ``box``. ``call`` is the page's API call, ``editorFor(dwelling, onDone)``
 * its edit form, ``onChanged()`` reloads the page's list (and calls ``update`` back), ``say`` its status line.
 */
export function dwellingPanel({ dwelling, lang, box, call, editorFor, onChanged, say }) {
  let d = dwelling;
  let stays = null;
  let walkIn = null; // {form, key, lang} while the walk-in form is open
  let editing = false;
  let notice = null; // {kind, text: (lang) => string}
  const t = (key, params) => text(lang, key, params);
  const failed = (err) => (isTransient(err) ? t("network_failed") : err.message);

  function render() {
    if (editing) {
      box.replaceChildren(editorFor(d, () => {
        editing = false;
        render();
      }));
      box.querySelector("input")?.focus();
      return;
    }
    const list = stays === null
      ? el("p", { class: "muted" }, t("loading"))
      : stays.length ? el("ul", { class: "stay-list" }, ...stays.map(stayItem)) : el("p", { class: "muted" }, t("no_guests"));
    box.replaceChildren(...[
      el("div", { class: "panel-head" },
        el("h2", {}, d.name),
        el("a", { class: "button secondary", href: "#", "aria-label": `${t("close")} ${d.name}` }, t("close"))),
      el("p", { class: "muted" }, d.address),
      el("p", { class: "muted" }, `${kindLabel(lang, d.kind)} · ${t("beds", { n: d.capacity })}`),
      d.active ? null : el("p", { class: "notice" }, t("inactive")),
      d.over_capacity
        ? el("p", { class: "error over-capacity-note" }, t("over_capacity", { guests: d.current_guests, beds: d.capacity }))
        : null,
      notice ? el("p", { class: notice.kind, role: "status" }, notice.text(lang)) : null,
      el("p", { class: "actions" },
        el("button", { type: "button", class: "secondary", onclick: () => { editing = true; render(); } }, t("edit")),
        el("a", { class: "button secondary", href: `/api/v1/dwellings/${d.id}/poster?size=a4`, target: "_blank", rel: "noopener" }, t("poster_a4")),
        el("a", { class: "button secondary", href: `/api/v1/dwellings/${d.id}/poster?size=a6`, target: "_blank", rel: "noopener" }, t("poster_a6")),
        el("a", { class: "button secondary", href: `/api/v1/dwellings/${d.id}/poster?size=sticker`, target: "_blank", rel: "noopener" }, t("poster_sticker")),
        el("button", { type: "button", class: "secondary", onclick: rotate }, t("rotate")),
        el("button", { type: "button", class: "secondary", onclick: toggleActive }, d.active ? t("deactivate") : t("reactivate"))),
      el("h3", {}, t("current_guests")),
      list,
      walkInPart(),
    ].filter(Boolean));
  }

  function walkInPart() {
    if (!walkIn) {
      return d.active ? el("p", {}, el("button", { type: "button", class: "wide", onclick: openWalkIn }, t("walk_in"))) : null;
    }
    if (walkIn.lang !== lang) walkIn.form.setLanguage(lang);
    walkIn.lang = lang;
    return el("section", { class: "walk-in", "aria-label": t("walk_in_title") },
      el("h3", {}, t("walk_in_title")),
      walkIn.form.element,
      el("p", {}, el("button", { type: "button", class: "secondary", onclick: () => { walkIn = null; render(); } }, t("cancel"))));
  }

  function guestLine(g) {
    return el("li", { class: "guest" },
      el("span", { class: "guest-name" }, g.full_name),
      g.document_type
        ? el("span", { class: "guest-document" },
          el("span", { class: "muted" }, documentLabel(lang, g.document_type)), " ",
          el("span", { class: "masked" }, g.document_masked ?? ""),
          g.nationality && g.nationality !== "CHN" ? el("span", { class: "muted" }, ` ${g.nationality}`) : null)
        : el("span", { class: "guest-document muted" }, `${t("minor")} · ${relationshipLabel(lang, g.relationship)}`));
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
      el("button", { type: "button", class: "secondary", onclick: (e) => checkout(stay, names, e.currentTarget) }, t("checkout")));
  }

  async function load() {
    render();
    stays = await call(`/api/v1/dwellings/${d.id}/stays?current=true`);
    if (!editing) render(); // an open edit form keeps what is being typed into it
  }

  async function rotate() {
    if (!confirm(t("confirm_rotate", { name: d.name }))) return;
    try {
      await call(`/api/v1/dwellings/${d.id}/qr/rotate`, { method: "POST" });
      notice = { kind: "ok", text: (l) => text(l, "rotated", { name: d.name }) };
    } catch (err) {
      notice = { kind: "error", text: () => failed(err) };
    }
    render();
  }

  async function toggleActive() {
    const active = !d.active;
    if (!active && !confirm(t("confirm_deactivate", { name: d.name }))) return;
    try {
      await call(`/api/v1/dwellings/${d.id}`, { method: "PATCH", body: { active } });
      notice = { kind: "ok", text: (l) => text(l, active ? "reactivated" : "deactivated", { name: d.name }) };
      walkIn = null;
      await onChanged();
    } catch (err) {
      notice = { kind: "error", text: () => failed(err) };
      render();
    }
  }

  async function checkout(stay, names, button) {
    if (!confirm(t("confirm_checkout", { names }))) return;
    button.disabled = true;
    try {
      await call(`/api/v1/stays/${stay.id}/checkout`, { method: "POST" });
      notice = { kind: "ok", text: (l) => text(l, "checked_out", { names }) };
      await Promise.all([load(), onChanged()]);
    } catch (err) {
      button.disabled = false;
      notice = { kind: "error", text: () => failed(err) };
      render();
    }
  }

  function openWalkIn() {
    notice = null;
    say(null);
    walkIn = {
      key: null,
      lang,
      form: createStayForm({ lang, idPrefix: "walkin", clerk: true, submitLabel: (l) => text(l, "register"), onSubmit: registerWalkIn }),
    };
    render();
    walkIn.form.element.querySelector("input")?.focus();
  }

  async function registerWalkIn(form) {
    const current = walkIn;
    // A guest is never turned away, but a full room is said out loud before it is overfilled.
    const arriving = 1 + (form.body().companions?.length ?? 0);
    if (!current.key && d.current_guests + arriving > d.capacity
        && !confirm(t("confirm_full", { name: d.name, beds: d.capacity, guests: d.current_guests, arriving }))) return;
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
      // A notice of the answer (the number already present elsewhere) is said with the receipt code.
      const told = (receipt.notices || []).map((n) => n.message);
      notice = { kind: told.length ? "notice" : "ok",
        text: (l) => [text(l, "registered", { code: receipt.receipt_code }), ...told].join(" ") };
      await Promise.all([load(), onChanged()]);
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

  return {
    id: d.id,
    load,
    /** The dwelling's new facts after the list reloaded. */
    update(fresh) {
      if (!fresh) return;
      d = fresh;
      if (!editing) render();
    },
    setLanguage(chosen) {
      lang = chosen;
      render();
    },
  };
}

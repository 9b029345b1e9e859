// Certificate signing keys: the active one, the retired ones and until when they stay published; rotation.
import { el } from "/static/api.js";
import { translator } from "/static/lang.js";
import { problemNode, statusLine, table, when } from "/static/staff-ui.js";

const t = translator({
  en: {
    title: "Signing keys",
    intro: "E-certificates are signed with the active key. A retired key stays published at /.well-known/jwks.json until the last certificate it signed expires, so those certificates still verify.",
    kid: "Key", state: "State", created: "Made", retired: "Retired", published: "Published until", certificates: "Certificates",
    active: "active", retired_state: "retired", while_active: "while active", not_published: "no longer published",
    rotate: "Rotate signing key", confirm: "Make a new signing key now? New certificates are signed with it; certificates already issued keep verifying with the old key until they expire.",
    rotated: "New signing key {kid} is active.", loading: "Loading…",
  },
  zh: {
    title: "签名密钥",
    intro: "电子住宿凭证由当前密钥签名。停用的密钥继续在 /.well-known/jwks.json 公布，直到它签发的最后一张凭证过期，这些凭证因此仍可核验。",
    kid: "密钥", state: "状态", created: "生成时间", retired: "停用时间", published: "公布至", certificates: "凭证数",
    active: "当前", retired_state: "已停用", while_active: "使用期间", not_published: "已不再公布",
    rotate: "更换签名密钥", confirm: "现在生成新的签名密钥吗？新凭证将用它签名；已签发的凭证在过期前仍可用旧密钥核验。",
    rotated: "新签名密钥 {kid} 已启用。", loading: "加载中…",
  },
});

export function createKeysPanel(ctx) {
  const element = el("section", { class: "card panel hidden", id: "keys-panel", "aria-labelledby": "keys-title" });
  const status = statusLine();
  let keys = null;
  const tr = (key, params) => t(ctx.lang(), key, params);

  async function load() {
    keys = await ctx.call("/api/v1/keys");
    render();
  }

  async function rotate(button) {
    if (!confirm(tr("confirm"))) return;
    button.disabled = true;
    try {
      keys = await ctx.call("/api/v1/keys/rotate", { method: "POST" });
      render();
      status.show("ok", tr("rotated", { kid: keys.find((k) => k.active).kid.slice(0, 12) }));
    } catch (err) {
      status.show("error", problemNode(err, ctx.lang()));
    } finally {
      button.disabled = false;
    }
  }

  function render() {
    const lang = ctx.lang();
    element.replaceChildren(el("h2", { id: "keys-title" }, tr("title")), el("p", { class: "muted" }, tr("intro")),
      el("p", {}, el("button", { type: "button", class: "danger", onclick: (event) => rotate(event.currentTarget) }, tr("rotate"))),
      status.node,
      keys === null ? el("p", { class: "muted" }, tr("loading")) : table([
        { label: tr("kid"), cell: (k) => el("span", { class: "mono", title: k.kid }, `${k.kid.slice(0, 16)}…`) },
        { label: tr("state"), cell: (k) => tr(k.active ? "active" : "retired_state") },
        { label: tr("created"), cell: (k) => when(k.created_at, lang) },
        { label: tr("retired"), cell: (k) => (k.retired_at ? when(k.retired_at, lang) : "–") },
        { label: tr("published"), cell: (k) => (k.active ? tr("while_active") : k.published_until ? when(k.published_until, lang) : tr("not_published")) },
        { label: tr("certificates"), num: true, cell: (k) => String(k.certificates) },
      ], keys));
  }

  render();
  return { id: "keys", title: (lang) => t(lang, "title"), element, activate: load, render };
}

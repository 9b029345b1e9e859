// The audit log: filter by actor, action and time; page back; verify the hash chain.
import { el } from "/static/api.js";
import { translator } from "/static/lang.js";
import { field, problemNode, statusLine, table, when } from "/static/staff-ui.js";

const PAGE = 100;
const t = translator({
  en: {
    title: "Audit log", actor: "Actor (username)", action: "Action", action_hint: "e.g. police.search, account., dwelling.",
    from: "From", to: "To", filter: "Filter", older: "Older entries", verify: "Verify the chain",
    intact: "The chain is intact: {n} entries verified.", broken: "The chain is BROKEN at entry {id}: it was edited, or an entry before it was removed ({n} entries verified before it).",
    at: "Time", reason: "Reason", details: "Details", none: "No entries match.", loading: "Loading…",
  },
  zh: {
    title: "审计日志", actor: "操作人（用户名）", action: "操作", action_hint: "例如 police.search、account.、dwelling.",
    from: "起始时间", to: "截止时间", filter: "筛选", older: "更早的记录", verify: "校验哈希链",
    intact: "哈希链完整：已校验 {n} 条记录。", broken: "哈希链在第 {id} 条记录处断裂：该记录被修改，或其之前的记录被删除（之前已校验 {n} 条）。",
    at: "时间", reason: "事由", details: "详情", none: "没有符合条件的记录。", loading: "加载中…",
  },
});

export function createAuditPanel(ctx) {
  const element = el("section", { class: "card panel hidden", id: "audit-panel", "aria-labelledby": "audit-title" });
  const status = statusLine();
  const filters = { actor: "", action: "", from: "", to: "" };
  let entries = null;
  let more = false;
  const tr = (key, params) => t(ctx.lang(), key, params);
  const problem = (err) => problemNode(err, ctx.lang());

  async function load({ older = false } = {}) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    for (const [key, value] of Object.entries(filters)) {
      // datetime-local has no zone: the browser's own, sent as an instant.
      if (value) params.set(key, key === "from" || key === "to" ? new Date(value).toISOString() : value);
    }
    if (older && entries?.length) params.set("before", String(entries.at(-1).id));
    const page = await ctx.call(`/api/v1/audit?${params}`);
    entries = older ? [...entries, ...page] : page;
    more = page.length === PAGE;
    render();
  }

  async function verify(button) {
    button.disabled = true;
    try {
      const check = await ctx.call("/api/v1/audit/verify");
      status.show(check.intact ? "ok" : "error", check.intact ? tr("intact", { n: check.entries_checked })
        : tr("broken", { id: check.broken_at, n: check.entries_checked }));
    } catch (err) {
      status.show("error", problem(err));
    } finally {
      button.disabled = false;
    }
  }

  function filterForm() {
    const inputs = {
      actor: el("input", { name: "actor", value: filters.actor, autocomplete: "off" }),
      action: el("input", { name: "action", value: filters.action, autocomplete: "off" }),
      from: el("input", { name: "from", type: "datetime-local", value: filters.from }),
      to: el("input", { name: "to", type: "datetime-local", value: filters.to }),
    };
    return el("form", {
      class: "inline",
      onsubmit: async (event) => {
        event.preventDefault();
        for (const [key, input] of Object.entries(inputs)) filters[key] = input.value.trim();
        try {
          await load();
        } catch (err) {
          status.show("error", problem(err));
        }
      },
    }, field(tr("actor"), inputs.actor), field(tr("action"), inputs.action, tr("action_hint")),
    field(tr("from"), inputs.from), field(tr("to"), inputs.to), el("button", { type: "submit" }, tr("filter")));
  }

  function details(entry) {
    const parts = Object.entries(entry.details || {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`);
    return parts.join(" · ") || "–";
  }

  function render() {
    const lang = ctx.lang();
    element.replaceChildren(...[el("h2", { id: "audit-title" }, tr("title")), filterForm(),
      el("p", {}, el("button", { type: "button", class: "secondary", onclick: (event) => verify(event.currentTarget) }, tr("verify"))),
      status.node,
      entries === null ? el("p", { class: "muted" }, tr("loading"))
        : entries.length ? table([
          { label: tr("at"), cell: (e) => when(e.at, lang) },
          { label: tr("actor"), cell: (e) => e.actor },
          { label: tr("action"), cell: (e) => el("span", { class: "mono" }, e.action) },
          { label: tr("reason"), cell: (e) => e.reason || "–" },
          { label: tr("details"), cell: (e) => el("span", { class: "details" }, details(e)) },
        ], entries) : el("p", { class: "muted" }, tr("none")),
      more ? el("p", {}, el("button", { type: "button", class: "secondary", onclick: () => load({ older: true }).catch((err) => status.show("error", problem(err))) }, tr("older"))) : null,
    ].filter(Boolean));
  }

  render();
  return { id: "audit", title: (lang) => t(lang, "title"), element, activate: load, render };
}

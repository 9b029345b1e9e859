// Accounts: create with a role and an area, list by role and area with the last login, reset a password
// (a generated one, shown once), disable and enable.
import { el } from "/static/api.js";
import { translator } from "/static/lang.js";
import { areaOptions, field, problemNode, select, statusLine, table, when } from "/static/staff-ui.js";

const ROLES = ["landlord", "desk", "police", "analyst", "admin"];
const t = translator({
  en: {
    title: "Accounts", new_account: "New account", username: "Username", display_name: "Display name", role: "Role",
    area: "Area", area_hint: "Police and analysts: their jurisdiction. Landlords and desks: optional.", no_area: "— none —",
    password: "Password", password_hint: "At least 10 characters; leave empty to generate one.", create: "Create account",
    created: "Account {username} created.", created_password: "Account {username} created. Its password, shown only now:",
    any_role: "All roles", any_area: "All areas", filter: "Show", last_login: "Last login", never: "never", status: "Status",
    active: "active", disabled: "disabled", actions: "Actions", reset: "Reset password", disable: "Disable", enable: "Enable",
    confirm_reset: "Make a new password for {username}? Their sessions end at once and the old password stops working.",
    reset_done: "New password for {username}, shown only now — give it to them in person:",
    disabled_done: "{username} is disabled.", enabled_done: "{username} is enabled again.",
    confirm_disable: "Disable {username}? They are logged out and cannot log in until enabled again.",
    none: "No accounts match.", loading: "Loading…",
    role_admin: "administrator", role_police: "police", role_landlord: "landlord", role_desk: "hotel desk", role_analyst: "analyst",
  },
  zh: {
    title: "账号", new_account: "新建账号", username: "用户名", display_name: "显示名称", role: "角色",
    area: "区域", area_hint: "警务和分析账号：其辖区。房东和前台：可不填。", no_area: "— 无 —",
    password: "密码", password_hint: "至少 10 个字符；留空则自动生成。", create: "创建账号",
    created: "已创建账号 {username}。", created_password: "已创建账号 {username}。其密码仅此一次显示：",
    any_role: "全部角色", any_area: "全部区域", filter: "显示", last_login: "最近登录", never: "从未", status: "状态",
    active: "正常", disabled: "已停用", actions: "操作", reset: "重置密码", disable: "停用", enable: "启用",
    confirm_reset: "为 {username} 生成新密码吗？其所有会话立即结束，旧密码失效。",
    reset_done: "{username} 的新密码仅此一次显示，请当面交给本人：",
    disabled_done: "已停用 {username}。", enabled_done: "已重新启用 {username}。",
    confirm_disable: "停用 {username} 吗？该账号将被登出，重新启用前无法登录。",
    none: "没有符合条件的账号。", loading: "加载中…",
    role_admin: "管理员", role_police: "警务", role_landlord: "房东", role_desk: "旅馆前台", role_analyst: "分析人员",
  },
});

/** 16 characters from an alphabet without look-alikes, from the browser's cryptographic generator. */
function generatedPassword() {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  return Array.from(crypto.getRandomValues(new Uint32Array(16)), (n) => alphabet[n % alphabet.length]).join("");
}

export function createAccountsPanel(ctx) {
  const element = el("section", { class: "card panel hidden", id: "accounts-panel", "aria-labelledby": "accounts-title" });
  const status = statusLine();
  let accounts = null;
  let areas = [];
  const filters = { role: "", area: "" };
  const tr = (key, params) => t(ctx.lang(), key, params);
  const problem = (err) => problemNode(err, ctx.lang());
  const roleName = (role) => tr(`role_${role}`);

  async function load() {
    areas = await ctx.areas();
    const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    accounts = await ctx.call(`/api/v1/accounts?${query}`);
    render();
  }

  const secret = (message, password) => [el("p", {}, message), el("p", { class: "secret" }, password)];

  async function create(event, inputs) {
    event.preventDefault();
    const button = event.target.querySelector("button[type=submit]");
    const typed = inputs.password.value;
    const password = typed || generatedPassword();
    const username = inputs.username.value.trim();
    button.disabled = true;
    try {
      await ctx.call("/api/v1/accounts", {
        method: "POST",
        body: { username, password, role: inputs.role.value, display_name: inputs.display_name.value.trim(),
          area_code: inputs.area.value || null },
      });
      await Promise.all([load(), ctx.areas({ reload: true })]);
      status.show("ok", ...(typed ? [tr("created", { username })] : secret(tr("created_password", { username }), password)));
    } catch (err) {
      status.show("error", problem(err));
    } finally {
      button.disabled = false;
    }
  }

  async function act(account, action) {
    const { username } = account;
    if (action === "reset" && !confirm(tr("confirm_reset", { username }))) return;
    if (action === "disable" && !confirm(tr("confirm_disable", { username }))) return;
    try {
      if (action === "reset") {
        const answer = await ctx.call(`/api/v1/accounts/${account.id}/password-reset`, { method: "POST" });
        status.show("ok", ...secret(tr("reset_done", { username }), answer.password));
      } else {
        await ctx.call(`/api/v1/accounts/${account.id}/${action}`, { method: "POST" });
        await load();
        status.show("ok", tr(action === "disable" ? "disabled_done" : "enabled_done", { username }));
      }
    } catch (err) {
      status.show("error", problem(err));
    }
  }

  function createForm() {
    const inputs = {
      username: el("input", { name: "username", required: true, autocomplete: "off", pattern: "[A-Za-z0-9_.\\-]{3,64}" }),
      display_name: el("input", { name: "display_name", maxlength: "200", autocomplete: "off" }),
      role: select("role", ROLES.map((r) => [r, roleName(r)])),
      area: select("area_code", areaOptions(areas, { empty: tr("no_area") })),
      password: el("input", { name: "password", type: "password", minlength: "10", autocomplete: "new-password" }),
    };
    return el("form", { class: "inline", onsubmit: (event) => create(event, inputs) },
      field(tr("username"), inputs.username), field(tr("display_name"), inputs.display_name),
      field(tr("role"), inputs.role), field(tr("area"), inputs.area, tr("area_hint")),
      field(tr("password"), inputs.password, tr("password_hint")), el("button", { type: "submit" }, tr("create")));
  }

  function filterForm() {
    const role = select("role", [["", tr("any_role")], ...ROLES.map((r) => [r, roleName(r)])], filters.role);
    const area = select("area", areaOptions(areas, { empty: tr("any_area") }), filters.area);
    return el("form", {
      class: "inline",
      onsubmit: async (event) => {
        event.preventDefault();
        Object.assign(filters, { role: role.value, area: area.value });
        try {
          await load();
        } catch (err) {
          status.show("error", problem(err));
        }
      },
    }, field(tr("role"), role), field(tr("area"), area), el("button", { type: "submit", class: "secondary" }, tr("filter")));
  }

  function list() {
    if (accounts === null) return el("p", { class: "muted" }, tr("loading"));
    if (!accounts.length) return el("p", { class: "muted" }, tr("none"));
    const areaName = (code) => areas.find((a) => a.code === code)?.name ?? code;
    return table([
      { label: tr("username"), cell: (a) => el("span", {}, el("strong", {}, a.username), a.display_name ? el("span", { class: "muted" }, ` ${a.display_name}`) : null) },
      { label: tr("role"), cell: (a) => roleName(a.role) },
      { label: tr("area"), cell: (a) => (a.area_code ? `${areaName(a.area_code)} (${a.area_code})` : "–") },
      { label: tr("last_login"), cell: (a) => (a.last_login_at ? when(a.last_login_at, ctx.lang()) : tr("never")) },
      { label: tr("status"), cell: (a) => tr(a.disabled ? "disabled" : "active") },
      { label: tr("actions"), actions: true, cell: (a) => [
        el("button", { type: "button", class: "secondary", "aria-label": `${tr("reset")} ${a.username}`, onclick: () => act(a, "reset") }, tr("reset")),
        el("button", { type: "button", class: "secondary", "aria-label": `${tr(a.disabled ? "enable" : "disable")} ${a.username}`,
          onclick: () => act(a, a.disabled ? "enable" : "disable") }, tr(a.disabled ? "enable" : "disable")),
      ] },
    ], accounts);
  }

  function render() {
    element.replaceChildren(el("h2", { id: "accounts-title" }, tr("title")),
      el("h3", {}, tr("new_account")), createForm(), status.node, el("h3", {}, tr("title")), filterForm(), list());
  }

  render();
  return { id: "accounts", title: (lang) => t(lang, "title"), element, activate: load, render };
}

// Dwellings of every owner: search by name, address, owner and area; transfer to another landlord or desk;
// deactivate. No guests and no QR codes here: administrators manage, owners print.
import { el } from "/static/api.js";
import { translator } from "/static/lang.js";
import { areaOptions, field, problemNode, select, statusLine, table } from "/static/staff-ui.js";

const PAGE_SIZE = 50;
const t = translator({
  en: {
    title: "Dwellings", q: "Name, address or owner", owner: "Owner (username)", owner_column: "Owner", area: "Area", any_area: "All areas",
    search: "Search", found: "{total} dwellings", page: "Page {page} of {pages}", previous: "Previous", next: "Next",
    name: "Name", address: "Address", kind: "Kind", beds: "Beds", state: "State", actions: "Actions",
    active: "taking registrations", inactive: "deactivated", transfer: "Transfer", new_owner: "New owner of {name} (username)",
    save: "Transfer", cancel: "Cancel", transferred: "{name} now belongs to {owner}. Its QR code and posters stay valid.",
    deactivate: "Deactivate", activate: "Activate", confirm_deactivate: "Deactivate {name}? Its QR code stops taking registrations; guests staying now are kept.",
    deactivated: "{name} is deactivated.", activated: "{name} takes registrations again.",
    none: "No dwellings match.", loading: "Loading…",
    kind_rental_room: "rental room", kind_homestay: "homestay", kind_dormitory: "dormitory", kind_hotel_room: "hotel room",
  },
  zh: {
    title: "住所", q: "名称、地址或所有者", owner: "所有者（用户名）", owner_column: "所有者", area: "区域", any_area: "全部区域",
    search: "搜索", found: "共 {total} 处住所", page: "第 {page} / {pages} 页", previous: "上一页", next: "下一页",
    name: "名称", address: "地址", kind: "类型", beds: "床位", state: "状态", actions: "操作",
    active: "接受登记", inactive: "已停用", transfer: "转移", new_owner: "{name} 的新所有者（用户名）",
    save: "转移", cancel: "取消", transferred: "{name} 已归 {owner} 所有，其二维码和已张贴的二维码继续有效。",
    deactivate: "停用", activate: "启用", confirm_deactivate: "停用 {name} 吗？其二维码将不再接受登记，当前在住住客保留。",
    deactivated: "已停用 {name}。", activated: "{name} 重新接受登记。",
    none: "没有符合条件的住所。", loading: "加载中…",
    kind_rental_room: "出租房", kind_homestay: "民宿", kind_dormitory: "集体宿舍", kind_hotel_room: "旅馆客房",
  },
});

export function createDwellingsPanel(ctx) {
  const element = el("section", { class: "card panel hidden", id: "dwellings-panel", "aria-labelledby": "dwellings-title" });
  const status = statusLine();
  const query = { q: "", owner: "", area: "", page: 1 };
  let result = null;
  let areas = [];
  let transferring = null; // the dwelling id whose transfer form is open
  const tr = (key, params) => t(ctx.lang(), key, params);
  const problem = (err) => problemNode(err, ctx.lang());

  async function load() {
    areas = await ctx.areas();
    const params = new URLSearchParams({ ...query, page: String(query.page), page_size: String(PAGE_SIZE) });
    result = await ctx.call(`/api/v1/admin/dwellings?${params}`);
    render();
  }

  async function attempt(work, message) {
    try {
      await work();
      transferring = null;
      await load();
      status.show("ok", message());
    } catch (err) {
      status.show("error", problem(err));
    }
  }

  function searchForm() {
    const q = el("input", { name: "q", type: "search", value: query.q, autocomplete: "off" });
    const owner = el("input", { name: "owner", value: query.owner, autocomplete: "off" });
    const area = select("area", areaOptions(areas, { empty: tr("any_area") }), query.area);
    return el("form", {
      class: "inline", role: "search",
      onsubmit: async (event) => {
        event.preventDefault();
        Object.assign(query, { q: q.value.trim(), owner: owner.value.trim(), area: area.value, page: 1 });
        status.clear();
        try {
          await load();
        } catch (err) {
          status.show("error", problem(err));
        }
      },
    }, field(tr("q"), q), field(tr("owner"), owner), field(tr("area"), area), el("button", { type: "submit" }, tr("search")));
  }

  function transferForm(d) {
    const owner = el("input", { name: "owner", required: true, autocomplete: "off" });
    return el("form", {
      class: "inline",
      onsubmit: (event) => {
        event.preventDefault();
        attempt(() => ctx.call(`/api/v1/admin/dwellings/${d.id}/transfer`, { method: "POST", body: { owner: owner.value.trim() } }),
          () => tr("transferred", { name: d.name, owner: owner.value.trim() }));
      },
    }, field(tr("new_owner", { name: d.name }), owner), el("button", { type: "submit" }, tr("save")),
    el("button", { type: "button", class: "secondary", onclick: () => { transferring = null; render(); } }, tr("cancel")));
  }

  function setActive(d, active) {
    if (!active && !confirm(tr("confirm_deactivate", { name: d.name }))) return;
    attempt(() => ctx.call(`/api/v1/admin/dwellings/${d.id}`, { method: "PATCH", body: { active } }),
      () => tr(active ? "activated" : "deactivated", { name: d.name }));
  }

  function results() {
    if (result === null) return el("p", { class: "muted" }, tr("loading"));
    if (!result.items.length) return el("p", { class: "muted" }, tr("none"));
    const pages = Math.max(1, Math.ceil(result.total / result.page_size));
    const go = async (page) => {
      query.page = page;
      await load();
    };
    return el("div", {},
      el("p", { class: "muted" }, tr("found", { total: result.total })),
      table([
        // Long names wrap here: eight columns and their actions fit a laptop's width.
        { label: tr("name"), cell: (d) => el("strong", { class: "wraps" }, d.name) },
        { label: tr("address"), cell: (d) => d.address },
        { label: tr("area"), cell: (d) => `${d.area_name} (${d.area_code})` },
        { label: tr("kind"), cell: (d) => tr(`kind_${d.kind}`) },
        { label: tr("beds"), num: true, cell: (d) => String(d.capacity) },
        { label: tr("owner_column"), cell: (d) => d.owner },
        { label: tr("state"), cell: (d) => tr(d.active ? "active" : "inactive") },
        { label: tr("actions"), actions: true, cell: (d) => (transferring === d.id ? transferForm(d) : [
          el("button", { type: "button", class: "secondary", "aria-label": `${tr("transfer")} ${d.name}`,
            onclick: () => { transferring = d.id; render(); } }, tr("transfer")),
          el("button", { type: "button", class: "secondary", "aria-label": `${tr(d.active ? "deactivate" : "activate")} ${d.name}`,
            onclick: () => setActive(d, !d.active) }, tr(d.active ? "deactivate" : "activate")),
        ]) },
      ], result.items),
      pages > 1 ? el("p", { class: "pager" },
        el("button", { type: "button", class: "secondary", disabled: result.page <= 1, onclick: () => go(result.page - 1) }, tr("previous")),
        el("span", {}, tr("page", { page: result.page, pages })),
        el("button", { type: "button", class: "secondary", disabled: result.page >= pages, onclick: () => go(result.page + 1) }, tr("next")))
        : null);
  }

  function render() {
    element.replaceChildren(el("h2", { id: "dwellings-title" }, tr("title")), searchForm(), status.node, results());
  }

  render();
  return { id: "dwellings", title: (lang) => t(lang, "title"), element, activate: load, render };
}

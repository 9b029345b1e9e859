// Areas: the jurisdiction tree with its counts; create, rename, and move where the codes allow it.
import { el } from "/static/api.js";
import { translator } from "/static/lang.js";
import { areaOptions, field, problemNode, select, statusLine } from "/static/staff-ui.js";

const t = translator({
  en: {
    title: "Areas", new_area: "New area", code: "Code", code_hint: "Starts with the 6-digit division code; a child's code extends its parent's.",
    name: "Name", parent: "Parent area", top_level: "— top level —", create: "Create area", created: "Area {name} created.",
    rename: "Rename", new_name: "New name for {name}", save: "Save", cancel: "Cancel", renamed: "Renamed to {name}.",
    move: "Move", move_under: "New parent of {name}", moved: "{name} moved.",
    counts: "{dwellings} dwellings · {accounts} accounts · {guests} guests now",
    tree_note: "Counts include the areas below. An area can only sit under the closest area whose code begins its code, so “Move” appears only where the tree does not follow its codes.",
    none: "No areas yet.", loading: "Loading…",
  },
  zh: {
    title: "区域", new_area: "新建区域", code: "代码", code_hint: "以 6 位行政区划代码开头；下级代码以上级代码开头。",
    name: "名称", parent: "上级区域", top_level: "— 顶级 —", create: "创建区域", created: "已创建区域 {name}。",
    rename: "改名", new_name: "{name} 的新名称", save: "保存", cancel: "取消", renamed: "已改名为 {name}。",
    move: "移动", move_under: "{name} 的新上级", moved: "已移动 {name}。",
    counts: "{dwellings} 处住所 · {accounts} 个账号 · 在住 {guests} 人",
    tree_note: "统计包含下级区域。区域只能位于代码与其开头一致的最近区域之下，因此只有树与代码不一致时才会出现“移动”。",
    none: "还没有区域。", loading: "加载中…",
  },
});

export function createAreasPanel(ctx) {
  const element = el("section", { class: "card panel hidden", id: "areas-panel", "aria-labelledby": "areas-title" });
  const status = statusLine();
  let areas = null;
  let editing = null; // {code, mode: "rename" | "move"}
  const tr = (key, params) => t(ctx.lang(), key, params);

  async function load() {
    areas = await ctx.areas({ reload: true });
    render();
  }

  async function submit(event, path, options, message) {
    event.preventDefault();
    const button = event.target.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await ctx.call(path, options);
      editing = null;
      await load();
      status.show("ok", message);
    } catch (err) {
      status.show("error", problemNode(err, ctx.lang()));
    } finally {
      button.disabled = false;
    }
  }

  function createForm() {
    const code = el("input", { name: "code", required: true, inputmode: "numeric", autocomplete: "off", pattern: "[0-9]{6}[0-9A-Za-z]{0,24}" });
    const name = el("input", { name: "name", required: true, maxlength: "200", autocomplete: "off" });
    const parent = select("parent_code", areaOptions(areas || [], { empty: tr("top_level") }));
    return el("form", {
      class: "inline",
      onsubmit: (event) => submit(event, "/api/v1/areas", {
        method: "POST", body: { code: code.value.trim(), name: name.value.trim(), parent_code: parent.value || null },
      }, tr("created", { name: name.value.trim() })),
    }, field(tr("parent"), parent), field(tr("code"), code, tr("code_hint")), field(tr("name"), name),
    el("button", { type: "submit" }, tr("create")));
  }

  /** Sums over the subtree: an area's own counts and those of every area whose code extends it. */
  function totals(area) {
    const below = areas.filter((a) => a.code.startsWith(area.code));
    const sum = (key) => below.reduce((n, a) => n + a[key], 0);
    return { dwellings: sum("dwellings"), accounts: sum("accounts"), guests: sum("current_guests") };
  }

  /** Where a move keeps the codes consistent: the closest area whose code begins this one's, if not its parent. */
  function closestEnclosing(area) {
    return areas.filter((a) => a.code !== area.code && area.code.startsWith(a.code))
      .sort((a, b) => b.code.length - a.code.length)[0] ?? null;
  }

  function editForm(area) {
    if (editing?.code !== area.code) return null;
    const cancel = el("button", { type: "button", class: "secondary", onclick: () => { editing = null; render(); } }, tr("cancel"));
    if (editing.mode === "rename") {
      const name = el("input", { name: "name", required: true, maxlength: "200", value: area.name });
      return el("form", {
        class: "inline",
        onsubmit: (event) => submit(event, `/api/v1/areas/${encodeURIComponent(area.code)}`,
          { method: "PATCH", body: { name: name.value.trim() } }, tr("renamed", { name: name.value.trim() })),
      }, field(tr("new_name", { name: area.name }), name), el("button", { type: "submit" }, tr("save")), cancel);
    }
    const target = closestEnclosing(area);
    const parent = select("parent_code", [[target.code, `${target.name} (${target.code})`]]);
    return el("form", {
      class: "inline",
      onsubmit: (event) => submit(event, `/api/v1/areas/${encodeURIComponent(area.code)}`,
        { method: "PATCH", body: { parent_code: parent.value } }, tr("moved", { name: area.name })),
    }, field(tr("move_under", { name: area.name }), parent), el("button", { type: "submit" }, tr("move")), cancel);
  }

  function node(area) {
    const sums = totals(area);
    const children = areas.filter((a) => a.parent_code === area.code);
    const target = closestEnclosing(area);
    const movable = target && target.code !== area.parent_code;
    return el("li", { "data-area": area.code },
      el("div", { class: "tree-node" },
        el("span", { class: "area-name" }, area.name), el("span", { class: "mono muted" }, area.code),
        el("span", { class: "count muted" }, tr("counts", sums)),
        el("span", { class: "tree-actions" },
          el("button", { type: "button", class: "secondary", "aria-label": `${tr("rename")} ${area.name}`,
            onclick: () => { editing = { code: area.code, mode: "rename" }; render(); } }, tr("rename")),
          movable ? el("button", { type: "button", class: "secondary", "aria-label": `${tr("move")} ${area.name}`,
            onclick: () => { editing = { code: area.code, mode: "move" }; render(); } }, tr("move")) : null),
        editForm(area)),
      children.length ? el("ul", {}, ...children.map(node)) : null);
  }

  function render() {
    const roots = (areas || []).filter((a) => !a.parent_code || !areas.some((p) => p.code === a.parent_code));
    element.replaceChildren(
      el("h2", { id: "areas-title" }, tr("title")),
      el("h3", {}, tr("new_area")),
      createForm(),
      status.node,
      areas === null ? el("p", { class: "muted" }, tr("loading"))
        : areas.length ? el("ul", { class: "tree", "aria-label": tr("title") }, ...roots.map(node))
          : el("p", { class: "muted" }, tr("none")),
      el("p", { class: "muted" }, tr("tree_note")));
  }

  render();
  return { id: "areas", title: (lang) => t(lang, "title"), element, activate: load, render };
}

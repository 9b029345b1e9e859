// Capacity thresholds of the statistics module: per area, the bed occupancy that turns it yellow and red.
import { el } from "/static/api.js";
import { translator } from "/static/lang.js";
import { problemNode, statusLine, table } from "/static/staff-ui.js";

const t = translator({
  en: {
    title: "Capacity thresholds",
    intro: "Bed occupancy (guests ÷ beds) at which an area's carrying capacity is shown yellow and red, and the police warned. 0.8 = 80 %.",
    area: "Area", yellow: "Yellow from", red: "Red from", save: "Save", saved: "Thresholds of {name} saved.",
    loading: "Loading…", none: "No areas.",
  },
  zh: {
    title: "承载阈值",
    intro: "区域床位占用率（在住人数 ÷ 床位数）达到多少时显示黄色、红色并提醒警务。0.8 即 80%。",
    area: "区域", yellow: "黄色起点", red: "红色起点", save: "保存", saved: "已保存 {name} 的阈值。",
    loading: "加载中…", none: "没有区域。",
  },
});

export function createThresholdsPanel(ctx) {
  const element = el("section", { class: "card panel hidden", id: "thresholds-panel", "aria-labelledby": "thresholds-title" });
  const status = statusLine();
  let items = null;
  const tr = (key, params) => t(ctx.lang(), key, params);

  async function load() {
    items = await ctx.call("/api/v1/statistics/thresholds");
    render();
  }

  async function save(item, yellow, red, button) {
    button.disabled = true;
    try {
      const body = { yellow: Number(yellow.value), red: Number(red.value) };
      await ctx.call(`/api/v1/statistics/thresholds/${encodeURIComponent(item.area_code)}`, { method: "PUT", body });
      Object.assign(item, body);
      status.show("ok", tr("saved", { name: item.area_name }));
    } catch (err) {
      status.show("error", problemNode(err, ctx.lang()));
    } finally {
      button.disabled = false;
    }
  }

  function row(item) {
    const input = (key) => el("input", { type: "number", name: key, min: "0", max: "10", step: "0.05", value: String(item[key]),
      "aria-label": `${tr(key)} · ${item.area_name}` });
    const yellow = input("yellow");
    const red = input("red");
    return { item, yellow, red };
  }

  function render() {
    let body;
    if (items === null) body = el("p", { class: "muted" }, tr("loading"));
    else if (!items.length) body = el("p", { class: "muted" }, tr("none"));
    else {
      body = table([
        { label: tr("area"), cell: (r) => `${r.item.area_name} (${r.item.area_code})` },
        { label: tr("yellow"), cell: (r) => r.yellow },
        { label: tr("red"), cell: (r) => r.red },
        { label: tr("save"), actions: true, cell: (r) => el("button", { type: "button", class: "secondary",
          "aria-label": `${tr("save")} ${r.item.area_name}`, onclick: (event) => save(r.item, r.yellow, r.red, event.currentTarget) }, tr("save")) },
      ], items.map(row));
    }
    element.replaceChildren(el("h2", { id: "thresholds-title" }, tr("title")), el("p", { class: "muted" }, tr("intro")),
      status.node, body);
  }

  render();
  return { id: "thresholds", title: (lang) => t(lang, "title"), element, activate: load, render };
}

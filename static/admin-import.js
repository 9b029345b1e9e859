// Bulk onboarding: a village's dwellings from one CSV file, checked line by line, previewed, then created at once.
import { el } from "/static/api.js";
import { translator } from "/static/lang.js";
import { createCsvUpload } from "/static/csv-upload.js";

const t = translator({
  en: {
    title: "Import dwellings",
    intro: "One line per dwelling, with the header name,address,area_code,kind,capacity,latitude,longitude,owner. Kind: rental_room, homestay, dormitory or hotel_room; capacity: beds; coordinates may be empty; owner: the landlord's or hotel desk's username. Save from Excel as CSV (UTF-8 or the Chinese default, GB18030).",
    intro_owner: "One line per dwelling, with the header name,address,area_code,kind,capacity,latitude,longitude,owner. Kind: rental_room, homestay, dormitory or hotel_room; capacity: beds; coordinates and owner may be empty (the dwellings are yours). Save from Excel as CSV (UTF-8 or the Chinese default, GB18030).",
    template: "Download the template (CSV)", file: "CSV file", check: "Check file", checking: "Checking every line…",
    importing: "Importing…", ready: "All {n} lines are correct. Check the preview, then import.",
    import: "Import {n} dwellings", preview_more: "… and {n} more lines.", done: "{n} dwellings created. Their owners can print the QR posters now.",
    line: "Line", name: "Name", address: "Address", area: "Area", kind: "Kind", beds: "Beds", owner: "Owner",
  },
  zh: {
    title: "导入住所",
    intro: "每行一处住所，标题行为 name,address,area_code,kind,capacity,latitude,longitude,owner。kind：rental_room、homestay、dormitory 或 hotel_room；capacity：床位数；经纬度可留空；owner：房东或旅馆前台的用户名。可用 Excel 另存为 CSV（UTF-8 或中文默认的 GB18030）。",
    intro_owner: "每行一处住所，标题行为 name,address,area_code,kind,capacity,latitude,longitude,owner。kind：rental_room、homestay、dormitory 或 hotel_room；capacity：床位数；经纬度和 owner 可留空（住所归您所有）。可用 Excel 另存为 CSV（UTF-8 或中文默认的 GB18030）。",
    template: "下载模板（CSV）", file: "CSV 文件", check: "检查文件", checking: "正在逐行检查…",
    importing: "正在导入…", ready: "{n} 行全部正确。请核对预览后导入。",
    import: "导入 {n} 处住所", preview_more: "……另有 {n} 行。", done: "已创建 {n} 处住所，所有者现在可以打印二维码。",
    line: "行", name: "名称", address: "地址", area: "区域", kind: "类型", beds: "床位", owner: "所有者",
  },
});

/** ``ownImport``: a landlord's or desk's own page, where the owner column may stay empty. */
export function createImportPanel(ctx, { ownImport = false } = {}) {
  const element = el("section", { class: "card panel hidden", id: "import-panel", "aria-labelledby": "import-title" });
  const tr = (key, params) => t(ctx.lang(), key, params);
  const upload = createCsvUpload({
    call: ctx.call,
    lang: ctx.lang,
    tr,
    endpoint: "/api/v1/dwellings/import",
    columns: () => [
      { label: tr("line"), num: true, cell: (d) => String(d.line) },
      { label: tr("name"), cell: (d) => d.name },
      { label: tr("address"), cell: (d) => d.address },
      { label: tr("area"), cell: (d) => d.area_code },
      { label: tr("kind"), cell: (d) => d.kind },
      { label: tr("beds"), num: true, cell: (d) => String(d.capacity) },
      { label: tr("owner"), cell: (d) => d.owner },
    ],
    rows: (answer) => answer.dwellings,
    count: (answer) => answer.would_create,
    done: (answer) => tr("done", { n: answer.created }),
    onImported: () => ctx.areas?.({ reload: true }),
  });

  function render() {
    element.replaceChildren(el("h2", { id: "import-title" }, tr("title")), el("p", {}, tr(ownImport ? "intro_owner" : "intro")),
      el("p", {}, el("a", { href: "/static/dwellings-template.csv", download: "dwellings-template.csv" }, tr("template"))),
      upload.element);
    upload.render();
  }

  render();
  return { id: "import", title: (lang) => t(lang, "title"), element, activate: async () => {}, render };
}

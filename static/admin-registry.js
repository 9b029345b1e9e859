// The identity registry that remote verification asks: persons from a CSV file, previewed with masked numbers.
import { el } from "/static/api.js";
import { translator } from "/static/lang.js";
import { createCsvUpload } from "/static/csv-upload.js";

const t = translator({
  en: {
    title: "Identity registry",
    intro: "Persons whose name and document number the automatic check of remote verification accepts. Header: full_name,document_number and, if needed, document_type (resident_id by default) and nationality. A line that breaks a document rule is named by its line; nothing is entered until every line is right. The same number again updates its entry.",
    file: "CSV file", check: "Check file", checking: "Checking every line…", importing: "Importing…",
    ready: "All {n} lines are correct. Check the preview (numbers masked), then import.", import: "Enter {n} persons",
    preview_more: "… and {n} more lines.", done: "{n} persons entered in the registry.",
    line: "Line", name: "Name", type: "Document", number: "Number",
  },
  zh: {
    title: "身份核验库",
    intro: "远程核验自动比对时认可的姓名与证件号码。标题行：full_name,document_number，可选 document_type（默认 resident_id）和 nationality。不符合证件规则的行会标明行号；所有行正确后才会录入。相同号码再次导入将更新原记录。",
    file: "CSV 文件", check: "检查文件", checking: "正在逐行检查…", importing: "正在导入…",
    ready: "{n} 行全部正确。请核对预览（号码已遮盖）后导入。", import: "录入 {n} 人",
    preview_more: "……另有 {n} 行。", done: "已录入 {n} 人。",
    line: "行", name: "姓名", type: "证件", number: "号码",
  },
});

export function createRegistryPanel(ctx) {
  const element = el("section", { class: "card panel hidden", id: "registry-panel", "aria-labelledby": "registry-title" });
  const tr = (key, params) => t(ctx.lang(), key, params);
  const upload = createCsvUpload({
    call: ctx.call,
    lang: ctx.lang,
    tr,
    endpoint: "/api/v1/registry/import",
    columns: () => [
      { label: tr("line"), num: true, cell: (p) => String(p.line) },
      { label: tr("name"), cell: (p) => p.full_name },
      { label: tr("type"), cell: (p) => p.document_type },
      { label: tr("number"), cell: (p) => el("span", { class: "masked" }, p.document_masked) },
    ],
    rows: (answer) => answer.preview,
    count: (answer) => answer.lines,
    done: (answer) => tr("done", { n: answer.imported }),
  });

  function render() {
    element.replaceChildren(el("h2", { id: "registry-title" }, tr("title")), el("p", {}, tr("intro")), upload.element);
    upload.render();
  }

  render();
  return { id: "registry", title: (lang) => t(lang, "title"), element, activate: async () => {}, render };
}

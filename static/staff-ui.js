// Small building blocks shared by the administration panels: labelled fields, tables that become cards on a
// phone, problem details shown next to the form that caused them, times with their zone.
import { ApiError, el, isTransient } from "/static/api.js";
import { translator } from "/static/lang.js";

const t = translator({
  en: { network: "Could not reach the server: please try again.", line: "Line {n}" },
  zh: { network: "无法连接服务器，请重试。", line: "第 {n} 行" },
});

let fieldCount = 0;

/** A labelled field around ``input`` (an <input>, <select> or <textarea>), with an optional hint. */
export function field(label, input, hint) {
  input.id ||= `admin-field-${++fieldCount}`;
  const hintNode = hint ? el("p", { class: "hint", id: `${input.id}-hint` }, hint) : null;
  if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
  return el("div", { class: "field" }, el("label", { for: input.id }, label), hintNode, input);
}

/** <select> of [value, text] pairs, ``value`` chosen; without one the first option is (a browser's default). */
export function select(name, options, value) {
  const node = el("select", { name }, ...options.map(([v, text]) => el("option", { value: v }, text)));
  if (value !== undefined) node.value = value;
  return node;
}

/** A table of ``rows``; ``columns``: {label, cell(row) -> node or text, num?}. On a phone each row is a card. */
export function table(columns, rows, caption) {
  return el("div", { class: "scroll" }, el("table", { class: "cards" },
    caption ? el("caption", { class: "muted" }, caption) : null,
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    el("tbody", {}, ...rows.map((row) => el("tr", {}, ...columns.map((c) => {
      const value = c.cell(row) ?? "";
      if (c.actions) return el("td", {}, el("div", { class: "row-actions" }, value));
      return el("td", { class: c.num ? "num" : null, "data-label": c.label }, value);
    }))))));
}

/** The message a person can act on: the problem's title and each field's (or line's) message. */
export function problemNode(err, lang) {
  if (!(err instanceof ApiError) || isTransient(err)) {
    return el("div", { class: "error", role: "alert" }, t(lang, "network"));
  }
  const errors = err.problem.errors || [];
  return el("div", { class: "error", role: "alert" },
    el("p", {}, err.message),
    errors.length ? el("ul", { class: "errors" }, ...errors.map((e) => el("li", {},
      e.line != null ? `${t(lang, "line", { n: e.line })} · ` : null, `${e.field}: `,
      e.message))) : null);
}

/** A time in the browser's locale for the page language, with its zone named. */
export function when(iso, lang) {
  if (!iso) return "–";
  return new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en-GB", {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  }).format(new Date(iso));
}

/** A panel's status line: ok, error or notice, or nothing. */
export function statusLine() {
  const node = el("div", { role: "status", "aria-live": "polite", class: "hidden" });
  return {
    node,
    show(kind, ...content) {
      node.className = kind;
      node.replaceChildren(...content);
    },
    clear() {
      node.className = "hidden";
      node.replaceChildren();
    },
  };
}

/** Areas as options "name (code)", indented by depth. */
export function areaOptions(areas, { empty } = {}) {
  const depth = (a) => {
    let d = 0;
    for (let p = a.parent_code; p; p = areas.find((x) => x.code === p)?.parent_code) d += 1;
    return d;
  };
  const options = areas.map((a) => [a.code, `${"\u00a0\u00a0".repeat(depth(a))}${a.name} (${a.code})`]);
  return empty ? [["", empty], ...options] : options;
}

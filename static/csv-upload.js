// Upload a CSV file in two steps: a dry run that checks every line and previews what would be made (or lists
// every problem with its line), then the import itself, all or nothing.
import { el } from "/static/api.js";
import { field, problemNode, statusLine, table } from "/static/staff-ui.js";

const PREVIEW_ROWS = 100;

/**
 * ``endpoint``: the import URL (takes ``?dry_run=true``); ``lang()``: the page language; ``tr(key, params)``: the
 * panel's texts, with file, check, checking, importing, ready ({n}), import ({n}), preview_more ({n});
 * ``columns()``: the preview table's columns; ``rows(answer)``, ``count(answer)`` and ``done(answer)``
 * read the dry run's and the import's answers. ``onImported`` runs after a successful import.
 */
export function createCsvUpload({ call, lang, tr, endpoint, columns, rows, count, done, onImported }) {
  const status = statusLine();
  const element = el("div", { class: "csv-upload" });
  let file = null;
  let preview = null; // the dry run's answer for ``file``
  let busy = false;

  const body = () => {
    const form = new FormData();
    form.append("file", file, file.name);
    return form;
  };

  async function send(dryRun) {
    busy = true;
    render();
    status.show("notice", tr(dryRun ? "checking" : "importing"));
    try {
      const answer = await call(`${endpoint}${dryRun ? "?dry_run=true" : ""}`, { method: "POST", body: body() });
      if (dryRun) {
        preview = answer;
        status.show("ok", tr("ready", { n: count(answer) }));
      } else {
        preview = null;
        file = null;
        status.show("ok", done(answer));
        await onImported?.();
      }
    } catch (err) {
      preview = null;
      status.show("error", problemNode(err, lang()));
    } finally {
      busy = false;
      render();
    }
  }

  function render() {
    const input = el("input", { type: "file", name: "file", accept: ".csv,text/csv", disabled: busy });
    input.addEventListener("change", () => {
      file = input.files[0] ?? null;
      preview = null;
      status.clear();
      render();
    });
    const shown = preview ? rows(preview) : [];
    element.replaceChildren(...[
      el("form", { class: "inline", onsubmit: (event) => { event.preventDefault(); if (file) send(true); } },
        field(tr("file"), input, file ? file.name : null),
        el("button", { type: "submit", disabled: busy || !file }, tr("check"))),
      status.node,
      // The button before the preview: a long file's preview is long, on a phone most of all.
      preview ? el("div", {},
        el("p", {}, el("button", { type: "button", class: "wide", disabled: busy, onclick: () => send(false) },
          tr("import", { n: count(preview) }))),
        shown.length ? table(columns(), shown.slice(0, PREVIEW_ROWS)) : null,
        shown.length > PREVIEW_ROWS ? el("p", { class: "muted" }, tr("preview_more", { n: shown.length - PREVIEW_ROWS })) : null)
        : null,
    ].filter(Boolean));
  }

  render();
  return { element, render };
}

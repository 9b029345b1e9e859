// Early warnings of the area: bed occupancy past its thresholds and unusual numbers of arrivals.
// The list comes from the warnings API; a live `alert` of those kinds on the police stream reloads it.
import { el, staffApi as api } from "/static/api.js";
import { apiLanguage, locale, onLanguageChange, t } from "/static/police-lang.js";
import { formatNumber, percent } from "./charts.js";

export const WARNING_KINDS = new Set(["capacity", "unusual_arrivals"]);

/** Headline and detail of a warning: ``details`` holds the reading that raised it. */
function describe({ kind, level, area_name: where, details }) {
  const facts = typeof details === "string" ? JSON.parse(details) : details || {};
  if (kind === "unusual_arrivals") {
    return [t("warning_arrivals", { where }),
      t("warning_arrivals_detail", { arrivals: formatNumber(facts.arrivals), usual: formatNumber(facts.usual) })];
  }
  const levelName = level === "red" || level === "yellow" ? t(`warning_${level}`) : level;
  return [t("warning_occupancy", { level: levelName, where }),
    t("warning_occupancy_detail", { rate: percent(facts.rate), threshold: percent(facts.threshold),
      guests: formatNumber(facts.guests), beds: formatNumber(facts.beds) })];
}

export function createWarnings() {
  const list = document.getElementById("warnings");
  let area;
  let warnings = [];
  let failure = null;

  function render() {
    if (failure) {
      list.replaceChildren(el("li", { class: "muted none" }, t("warnings_unavailable", { error: failure.message })));
      return;
    }
    list.replaceChildren(...(warnings.length
      ? warnings.map((w) => {
        const [headline, detail] = describe(w);
        return el("li", { class: `warning ${w.level === "red" ? "red" : "yellow"}` },
          el("strong", {}, headline), el("br"), detail,
          el("span", { class: "muted" }, t("warning_since", { when: new Date(w.since).toLocaleString(locale()) })));
      })
      : [el("li", { class: "muted none" }, t("no_warnings"))]));
  }

  async function load() {
    try {
      warnings = await api(`/api/v1/statistics/warnings?area=${encodeURIComponent(area)}`, { lang: apiLanguage() });
      failure = null;
    } catch (err) {
      failure = err;
    }
    render();
  }

  onLanguageChange(render);
  return {
    load(code) {
      area = code;
      return load();
    },
    /** A live warning raised or cleared: the list is read again, so it says what holds now. */
    alert() {
      return load();
    },
  };
}

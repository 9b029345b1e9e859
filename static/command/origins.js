// Where guests come from: arrivals of the last 30 days by origin (provinces, HK/MO/TW, countries), from
// the statistics API, or the floating population present now by province, from the live counts.
import { apiLanguage, language, t } from "/static/police-lang.js";
import { COLOURS, axisLabel, chartIn, common, segmented, textWidth } from "./charts.js";
import { addDays, isoDate, labelOf, statistics } from "./figures.js";

const SHOWN = 10; // the largest origins by name; the rest as one bar

function ranked(entries) {
  const sorted = [...entries].sort((a, b) => b.value - a.value);
  const rest = sorted.slice(SHOWN).reduce((total, e) => total + (e.value ?? 0), 0);
  return [...sorted.slice(0, SHOWN), ...(rest ? [{ label: t("other"), value: rest }] : [])];
}

/** Arrivals per origin key summed over the days, suppressed cells (null) left out. */
function byOrigin(rows) {
  const totals = new Map();
  for (const row of rows) {
    if (row.arrivals == null) continue;
    const known = totals.get(row.key) ?? { label: labelOf(row), value: 0 };
    known.value += row.arrivals;
    totals.set(row.key, known);
  }
  return [...totals.values()];
}

export function createOrigins() {
  // The names' room depends on the panel's width: drawn again when it changes (or its tab is shown).
  const chart = chartIn(document.getElementById("origins"), () => shown && show(...shown));
  const caption = document.getElementById("origins-caption");
  let area;
  let floating = [];
  let shown = null;
  const mode = segmented(document.getElementById("origins-mode"), () => draw());

  function show(entries, text) {
    shown = [entries, text];
    const top = ranked(entries).reverse(); // the largest at the top of a horizontal bar chart
    caption.textContent = entries.length ? text : `${text} — ${t("none")}`;
    const size = axisLabel().fontSize;
    const room = 0.4 * chart.getWidth();
    // 15% more than measured: the chart's canvas draws the names a little wider than the page's own.
    const names = Math.min(room, 1.15 * Math.max(0, ...top.map((e) => textWidth(e.label, size))));
    chart.setOption({
      ...common(`${text}: ${top.slice().reverse().map((e) => `${e.label} ${e.value}`).join(", ") || t("none")}`),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      // Room for the longest name, measured here (ECharts' containLabel cut "Foreign countries" short), at
      // most 40% of the panel: a longer name is shortened with an ellipsis.
      grid: { left: 12 + names, right: 40, top: 4, bottom: 8 + 2 * size },
      xAxis: { type: "value", minInterval: 1, axisLabel: axisLabel() },
      yAxis: { type: "category", data: top.map((e) => e.label),
        axisLabel: axisLabel({ hideOverlap: false, width: room, overflow: "truncate" }) },
      series: [{ type: "bar", data: top.map((e) => e.value), itemStyle: { color: COLOURS.arrivals }, barMaxWidth: 36,
        label: { show: true, position: "right", fontSize: axisLabel().fontSize } }],
    }, true);
  }

  async function draw() {
    if (mode() === "now") {
      show(floating.map((p) => ({ label: p.names?.[language()] ?? p.name, value: p.guests })), t("origins_now_caption"));
      return;
    }
    const today = new Date();
    try {
      const answer = await statistics({ area, from: isoDate(addDays(today, -29)), to: isoDate(today), period: "month", by: "origin_province" }, apiLanguage());
      show(byOrigin(answer.rows), t("origins_arrivals_caption"));
    } catch (err) {
      caption.textContent = t("statistics_unavailable", { error: err.message });
    }
  }

  return {
    load(code) {
      area = code;
      return draw();
    },
    /** The live counts' origin provinces; redrawn only when they are on show. */
    counts(counts) {
      const changed = JSON.stringify(counts.origin_provinces) !== JSON.stringify(floating);
      floating = counts.origin_provinces;
      if (changed && mode() === "now") draw();
    },
  };
}

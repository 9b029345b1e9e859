// The statistics tab: any period of any area in reach, per day, week or month, with a breakdown;
// totals, a chart, the table, and the same table as CSV or XLSX. Analysts of other departments see only
// this tab, with small counts suppressed by the service.
import { el, problemText } from "/static/api.js";
import { apiLanguage, onLanguageChange, t } from "/static/police-lang.js";
import { COLOURS, axisLabel, chartIn, common, formatNumber, percent } from "./charts.js";
import { isoDate, labelOf as labelIn, statistics, statisticsUrl } from "./figures.js";

const TABLE_ROWS = 500; // more is for the download
const STACKED = 8; // series of a breakdown chart; the other keys make one more
const TOTALS = [
  ["arrivals", formatNumber],
  ["guest_nights", formatNumber],
  ["beds", formatNumber],
  ["bed_nights", formatNumber],
  ["bed_occupancy", (v) => percent(v, 1)],
  ["dwelling_occupancy", (v) => percent(v, 1)],
  ["average_stay", (v) => (v == null ? "—" : t("n_nights", { n: Number(v).toFixed(1) }))],
];

const cell = (value) => (value == null ? t("suppressed") : formatNumber(value));
const labelOf = (row) => labelIn(row) || row.key || t("all");
// A month's period is its first day: shown as the month.
const periodLabel = (period, kind) => (kind === "month" ? period.slice(0, 7) : period);

/** Arrivals per period of each key, the largest keys as their own series and the rest together. */
function breakdownSeries(rows, periods) {
  const totals = new Map();
  for (const row of rows) totals.set(labelOf(row), (totals.get(labelOf(row)) ?? 0) + (row.arrivals ?? 0));
  const named = [...totals.keys()].sort((a, b) => totals.get(b) - totals.get(a)).slice(0, STACKED);
  const seriesOf = (name) => periods.map((p) => rows.filter((r) => r.period === p && name(labelOf(r)))
    .reduce((total, r) => total + (r.arrivals ?? 0), 0));
  return [
    ...named.map((name) => ({ name, type: "bar", stack: "arrivals", data: seriesOf((l) => l === name) })),
    ...(totals.size > named.length ? [{ name: t("other"), type: "bar", stack: "arrivals", data: seriesOf((l) => !named.includes(l)) }] : []),
  ];
}

function chartOptions(answer, by) {
  const periods = [...new Set(answer.rows.map((r) => r.period))].sort();
  const sumOf = (field) => periods.map((p) => answer.rows.filter((r) => r.period === p && r[field] != null)
    .reduce((total, r) => total + r[field], 0));
  const series = by === "none"
    ? [{ name: t("series_arrivals"), type: "bar", data: sumOf("arrivals"), itemStyle: { color: COLOURS.arrivals } },
      { name: t("series_nights"), type: "line", yAxisIndex: 1, data: sumOf("guest_nights"), itemStyle: { color: COLOURS.nights },
        lineStyle: { width: 3 } }]
    : breakdownSeries(answer.rows, periods);
  return {
    ...common(t("statistics_chart", { periods: periods.length, series: series.map((s) => s.name).join(", ") })),
    legend: { type: "scroll", top: 0, textStyle: axisLabel() },
    grid: { left: 8, right: 8, top: 40, bottom: 4, containLabel: true },
    xAxis: { type: "category", data: periods.map((p) => periodLabel(p, answer.period)), axisLabel: axisLabel() },
    yAxis: [
      { type: "value", minInterval: 1, name: t("axis_arrivals"), axisLabel: axisLabel(), nameTextStyle: axisLabel({ align: "left" }) },
      ...(by === "none" ? [{ type: "value", minInterval: 1, name: t("axis_nights"), axisLabel: axisLabel(),
        nameTextStyle: axisLabel({ align: "right" }), splitLine: { show: false } }] : []),
    ],
    series,
  };
}

/** ``areas``: the areas this account may ask about ({code, name}), its own first. */
export function createStatisticsTab(areas) {
  const form = document.getElementById("statistics-form");
  const error = document.getElementById("statistics-error");
  const chart = chartIn(document.getElementById("statistics-chart"));
  const today = new Date();
  form.area.replaceChildren(...areas.map((a) => el("option", { value: a.code }, a.name === a.code ? a.code : `${a.name} (${a.code})`)));
  form.from.value = isoDate(new Date(today.getFullYear(), today.getMonth() - 11, 1));
  form.to.value = isoDate(today);

  const params = () => ({ area: form.area.value, from: form.from.value, to: form.to.value, period: form.period.value, by: form.by.value });
  // Asked in the page's language, like every call: a refused download explains itself in it.
  function updateDownloads() {
    for (const format of ["csv", "xlsx"]) {
      document.getElementById(`download-${format}`).href = statisticsUrl({ ...params(), format, lang: apiLanguage() });
    }
  }

  function render(answer, asked) {
    const option = form.area.selectedOptions[0];
    if (answer.area?.name && option?.value === answer.area.code) option.textContent = `${answer.area.name} (${answer.area.code})`;
    document.getElementById("statistics-totals").replaceChildren(...TOTALS.map(([key, format]) =>
      el("div", { "data-total": key }, el("dt", {}, t(`total_${key}`)), el("dd", {}, format(answer.totals[key])))));
    const hidden = answer.rows.filter((r) => r.suppressed).length;
    document.getElementById("statistics-note").textContent = [
      t("n_rows", { n: answer.rows.length }),
      hidden ? t("rows_hidden", { n: hidden }) : "",
      answer.rows.length > TABLE_ROWS ? t("rows_first", { n: TABLE_ROWS }) : "",
    ].filter(Boolean).join(" · ");
    chart.setOption(chartOptions(answer, asked.by), true);
    document.querySelector("#statistics-table tbody").replaceChildren(...(answer.rows.length
      ? answer.rows.slice(0, TABLE_ROWS).map((row) => el("tr", { class: row.suppressed ? "suppressed" : null },
        el("td", {}, periodLabel(row.period, asked.period)), el("td", {}, labelOf(row)),
        el("td", { class: "number" }, cell(row.arrivals)), el("td", { class: "number" }, cell(row.guest_nights))))
      : [el("tr", {}, el("td", { colspan: "4", class: "muted" }, t("no_figures")))]));
  }

  async function load() {
    error.classList.add("hidden");
    const asked = params();
    if (!asked.from || !asked.to || asked.from > asked.to) {
      error.textContent = t("period_backwards");
      error.classList.remove("hidden");
      return;
    }
    try {
      shown = [await statistics(asked, apiLanguage()), asked];
      render(...shown);
    } catch (err) {
      error.textContent = problemText(err);
      error.classList.remove("hidden");
    }
  }

  let shown = null; // the last answer and what it answered, drawn again in another language
  onLanguageChange(() => {
    updateDownloads();
    if (shown) render(...shown);
  });
  form.addEventListener("input", updateDownloads);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  form.querySelector("button[type=submit]").disabled = false;
  updateDownloads();

  return {
    /** Show ``code``'s figures (the area the live view is on), if this account may ask about it. */
    show(code) {
      if (code && areas.some((a) => a.code === code) && form.area.value !== code) {
        form.area.value = code;
        updateDownloads();
      }
      return load();
    },
  };
}

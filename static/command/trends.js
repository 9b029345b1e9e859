// Trend panel: arrivals and guest-nights per day (30 days) and per month (12 months), each beside
// the same period a year earlier, from the statistics API.
import { t } from "/static/police-lang.js";
import { COLOURS, axisLabel, chartIn, common, formatNumber } from "./charts.js";
import { addDays, isoDate, perPeriod, statistics, yearEarlier } from "./figures.js";

const DAYS = 30;
const MONTHS = 12;

function lastDays(today) {
  return Array.from({ length: DAYS }, (_, i) => addDays(today, i - DAYS + 1));
}

function lastMonths(today) {
  return Array.from({ length: MONTHS }, (_, i) => new Date(today.getFullYear(), today.getMonth() - MONTHS + 1 + i, 1));
}

const monthKey = (d) => isoDate(d).slice(0, 7);

function change(now, before) {
  if (now == null || !before) return "";
  const delta = Math.round(((now - before) / before) * 100);
  return t("change", { delta: `${delta >= 0 ? "+" : ""}${delta}%` });
}

function summary(now, before) {
  const [n, b] = [now.totals, before.totals];
  return t("trend_summary", {
    arrivals: formatNumber(n.arrivals), arrivals_before: formatNumber(b.arrivals), arrivals_change: change(n.arrivals, b.arrivals),
    nights: formatNumber(n.guest_nights), nights_before: formatNumber(b.guest_nights), nights_change: change(n.guest_nights, b.guest_nights),
  });
}

function options(description, labels, now, before) {
  const bar = (name, data, color) => ({ name, type: "bar", data, itemStyle: { color }, barGap: "10%" });
  const line = (name, data, color, type) => ({
    name, type: "line", yAxisIndex: 1, data, symbol: "none", connectNulls: false,
    lineStyle: { color, width: 3, type }, itemStyle: { color },
  });
  return {
    ...common(description),
    grid: { left: 8, right: 8, top: 28, bottom: 4, containLabel: true },
    xAxis: { type: "category", data: labels, axisLabel: axisLabel() },
    yAxis: [
      { type: "value", name: t("axis_arrivals"), minInterval: 1, axisLabel: axisLabel(), nameTextStyle: axisLabel({ align: "left" }) },
      { type: "value", name: t("axis_nights"), minInterval: 1, axisLabel: axisLabel(), nameTextStyle: axisLabel({ align: "right" }),
        splitLine: { show: false } },
    ],
    series: [
      bar(t("series_arrivals"), now.arrivals, COLOURS.arrivals),
      bar(t("series_arrivals_last_year"), before.arrivals, COLOURS.lastYear),
      line(t("series_nights"), now.nights, COLOURS.nights, "solid"),
      line(t("series_nights_last_year"), before.nights, COLOURS.nightsLastYear, "dashed"),
    ],
  };
}

export function createTrends() {
  const charts = { days: chartIn(document.getElementById("trend-days")), months: chartIn(document.getElementById("trend-months")) };

  // ``dates`` start the periods shown (days or first days of months); the last ends today.
  async function draw(name, area, period, dates, key, label) {
    const [from, to] = [dates[0], new Date()];
    const [now, before] = await Promise.all([
      statistics({ area, from: isoDate(from), to: isoDate(to), period, by: "none" }),
      statistics({ area, from: isoDate(yearEarlier(from)), to: isoDate(yearEarlier(to)), period, by: "none" }),
    ]);
    const periods = dates.map(key);
    const earlier = dates.map((d) => key(yearEarlier(d)));
    const values = (answer, keys) => ({
      arrivals: perPeriod(answer.rows, keys, "arrivals"),
      nights: perPeriod(answer.rows, keys, "guest_nights"),
    });
    const text = summary(now, before);
    document.getElementById(`trend-${name}-sum`).textContent = text;
    const title = document.getElementById(`trend-${name}-title`).textContent;
    charts[name].setOption(options(`${title}: ${text}`, dates.map(label), values(now, periods), values(before, earlier)), true);
  }

  return {
    async load(area) {
      const today = new Date();
      try {
        await Promise.all([
          draw("days", area, "day", lastDays(today), isoDate, (d) => isoDate(d).slice(5)),
          draw("months", area, "month", lastMonths(today), monthKey, monthKey),
        ]);
      } catch (err) {
        document.getElementById("trend-days-sum").textContent = t("statistics_unavailable", { error: err.message });
      }
    },
  };
}

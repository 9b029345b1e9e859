// The last 24 hours: guests arriving and leaving per hour, with readable hours and counts on the axes.
import { t } from "/static/police-lang.js";
import { COLOURS, axisLabel, chartIn, common } from "./charts.js";

const hourLabel = (hour) => `${String(new Date(hour).getHours()).padStart(2, "0")}:00`;

export function createTimeline() {
  const chart = chartIn(document.getElementById("chart"));
  return {
    show(hours) {
      const total = (field) => hours.reduce((sum, h) => sum + h[field], 0);
      const bar = (name, field, color) => ({ name, type: "bar", data: hours.map((h) => h[field]), itemStyle: { color } });
      chart.setOption({
        ...common(t("timeline_description", { arrivals: total("arrivals"), departures: total("departures") })),
        grid: { left: 8, right: 8, top: 12, bottom: 4, containLabel: true },
        xAxis: { type: "category", data: hours.map((h) => hourLabel(h.hour)), axisLabel: axisLabel() },
        yAxis: { type: "value", minInterval: 1, axisLabel: axisLabel() },
        series: [bar(t("series_checkins"), "arrivals", COLOURS.arrivals), bar(t("series_checkouts"), "departures", COLOURS.departures)],
      }, true);
    },
  };
}

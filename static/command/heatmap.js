// Map panel: a heat map of the guests now (density from each dwelling's coordinates and current guests),
// switchable with the dwellings as risk-coloured dots. No map tiles: the area is drawn as the box that
// holds its dwellings, with the names of the areas below placed where their dwellings are.
import { el } from "/static/api.js";
import { t } from "/static/police-lang.js";
import { COLOURS, baseFont, chartIn, common, drawable, echarts, formatNumber, segmented, textWidth } from "./charts.js";

const RISKS = [["red", COLOURS.red], ["yellow", COLOURS.yellow], ["green", COLOURS.green]];
const RISK_COLOUR = Object.fromEntries(RISKS);
const HEAT_COLOURS = ["#1e6fd9", "#35b0ab", "#f2d43d", "#f28e2b", "#c62828"];
const MIN_SPAN = 0.002; // degrees: a lone dwelling sits in a small box, not on a dot-sized map

/**
 * The box to draw: the dwellings' extent, padded, widened to the panel's shape so the map fills it.
 * ``aspect`` is how much narrower a degree of longitude is than one of latitude here.
 */
function extent(points, width, height) {
  const lons = points.map((p) => p.longitude);
  const lats = points.map((p) => p.latitude);
  const centre = [(Math.min(...lons) + Math.max(...lons)) / 2, (Math.min(...lats) + Math.max(...lats)) / 2];
  const aspect = Math.cos((centre[1] * Math.PI) / 180);
  // A fifth of the span on each side: room for the heat around a dwelling at the edge, and its label.
  let lonSpan = Math.max(Math.max(...lons) - Math.min(...lons), MIN_SPAN) * 1.4;
  let latSpan = Math.max(Math.max(...lats) - Math.min(...lats), MIN_SPAN) * 1.4;
  const panel = width / Math.max(height, 1);
  if ((lonSpan * aspect) / latSpan < panel) lonSpan = (panel * latSpan) / aspect;
  else latSpan = (lonSpan * aspect) / panel;
  return { centre, aspect, lonSpan, latSpan };
}

function areaOutline(name, { centre, lonSpan, latSpan }) {
  const [west, east] = [centre[0] - lonSpan / 2, centre[0] + lonSpan / 2];
  const [south, north] = [centre[1] - latSpan / 2, centre[1] + latSpan / 2];
  return {
    type: "FeatureCollection",
    features: [{ type: "Feature", properties: { name },
      geometry: { type: "Polygon", coordinates: [[[west, south], [east, south], [east, north], [west, north], [west, south]]] } }],
  };
}

const LABEL_MARGIN = 4; // px between a name and the panel's edge

/**
 * Where each area below sits: the middle of its dwellings. A name wider than the panel (``room`` px)
 * breaks onto lines of that width.
 */
function areaLabels(dwellings, children, size, room) {
  return children.flatMap((child) => {
    const inside = dwellings.filter((d) => d.area_code.startsWith(child.area));
    if (!inside.length) return [];
    const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
    const wide = textWidth(child.name, size, "bold") > room ? { label: { width: room, overflow: "break" } } : {};
    return [{ name: child.name, value: [mean(inside.map((d) => d.longitude)), mean(inside.map((d) => d.latitude))], ...wide }];
  });
}

const clamp = (value, low, high) => Math.max(low, Math.min(value, high));

/**
 * A name placed above its area's middle is moved inside the panel when that is near an edge: on a phone's
 * narrow map (or zoomed in) a village at the edge shows its whole name, not half of it.
 */
function insidePanel(chart) {
  return ({ labelRect: { x, y, width, height } }) => ({
    x: clamp(x, LABEL_MARGIN, chart.getWidth() - width - LABEL_MARGIN),
    y: clamp(y, LABEL_MARGIN, chart.getHeight() - height - LABEL_MARGIN),
    align: "left",
    verticalAlign: "top",
  });
}

function describe(heat, placed, guests) {
  if (!heat) {
    return t("risk_description", { counts: RISKS.map(([risk]) => `${t(`risk_${risk}`)} ${placed.filter((d) => d.risk === risk).length}`).join(", ") });
  }
  const occupied = placed.filter((d) => d.current_guests > 0).length;
  const counted = (n, word) => t(n === 1 ? `n_${word}` : `n_${word}s`, { n: formatNumber(n) });
  return t("heat_description", { guests: counted(guests, "guest"), dwellings: counted(occupied, "dwelling") });
}

export function createHeatmap() {
  const element = document.getElementById("map");
  const legend = document.getElementById("map-legend");
  let shown = { name: "", dwellings: [], children: [] };
  const chart = chartIn(element, () => draw()); // the box drawn follows the panel's shape
  const mode = segmented(document.getElementById("map-mode"), () => draw());

  function dwellingSeries(placed, heat) {
    const size = baseFont() / 16;
    return {
      type: "scatter", coordinateSystem: "geo", name: t("series_dwellings"),
      data: placed.map((d) => ({
        name: d.name, value: [d.longitude, d.latitude, d.current_guests], capacity: d.capacity,
        itemStyle: { color: heat ? "rgba(27,31,36,.35)" : RISK_COLOUR[d.risk], borderColor: "#fff", borderWidth: heat ? 0 : 1 },
      })),
      symbolSize: heat ? 4 * size : (d) => (7 + 2 * Math.min(d[2], 8)) * size,
      tooltip: { formatter: (p) => `${p.name}<br>${t("tooltip_guests", { guests: p.value[2], capacity: p.data.capacity })}` },
      z: heat ? 3 : 5,
    };
  }

  function draw() {
    if (!shown.name || !drawable(element)) return; // drawn when its data has come and its tab is shown
    const placed = shown.dwellings.filter((d) => d.latitude != null && d.longitude != null);
    const unplaced = shown.dwellings.length - placed.length;
    if (!placed.length) {
      chart.clear();
      legend.replaceChildren(t("no_coordinates"));
      return;
    }
    const heat = mode() === "heat";
    const box = extent(placed, element.clientWidth, element.clientHeight);
    const mapName = `extent-${shown.name}`;
    // A redraw with fresh counts keeps where the officer has zoomed and panned to.
    const before = chart.getOption()?.geo?.[0];
    const roamed = before?.map === mapName && before.center ? { zoom: before.zoom, center: before.center } : {};
    echarts.registerMap(mapName, { geoJSON: areaOutline(shown.name, box) });
    const guests = placed.reduce((total, d) => total + d.current_guests, 0);
    const hottest = Math.max(2, ...placed.map((d) => d.current_guests));
    const point = Math.max(10, Math.min(element.clientWidth, element.clientHeight) / 20);
    const label = Math.round(baseFont() * 0.95);
    chart.setOption({
      ...common(describe(heat, placed, guests)),
      tooltip: { trigger: "item" },
      geo: {
        map: mapName, roam: true, aspectScale: box.aspect, left: 4, right: 4, top: 4, bottom: 4,
        itemStyle: { areaColor: "#eef3f7", borderColor: "#c9d2db" }, emphasis: { disabled: true }, select: { disabled: true },
        tooltip: { show: false }, label: { show: false }, ...roamed,
      },
      visualMap: heat ? {
        type: "continuous", min: 0, max: hottest, seriesIndex: 0, calculable: false, orient: "vertical",
        right: 12, bottom: 12, itemHeight: 100, text: [t("heat_more"), t("heat_fewer")], inRange: { color: HEAT_COLOURS },
        textStyle: { fontSize: Math.round(baseFont() * 0.75) },
      } : undefined,
      series: [
        ...(heat ? [{
          type: "heatmap", coordinateSystem: "geo", name: t("series_guests"), pointSize: point, blurSize: point,
          data: placed.filter((d) => d.current_guests > 0).map((d) => [d.longitude, d.latitude, d.current_guests]),
        }] : []),
        dwellingSeries(placed, heat),
        {
          type: "scatter", coordinateSystem: "geo", name: t("areas"), symbolSize: 0, silent: true, z: 6,
          data: areaLabels(placed, shown.children, label, element.clientWidth - 2 * LABEL_MARGIN),
          labelLayout: insidePanel(chart),
          // Above the middle of the area's dwellings, not over the dot of one of them.
          label: { show: true, formatter: "{b}", position: "top", distance: label, fontSize: label, fontWeight: "bold", color: "#1b1f24",
            textBorderColor: "#fff", textBorderWidth: 3 },
        },
      ],
    }, true);
    showLegend(heat, placed, guests, unplaced);
  }

  function showLegend(heat, placed, guests, unplaced) {
    const parts = heat
      ? [`${describe(heat, placed, guests)}; ${t("heat_redder")}`]
      : RISKS.flatMap(([risk]) => [el("span", { class: `dot ${risk}` }),
        `${t(`risk_${risk}`)}: ${placed.filter((d) => d.risk === risk).length} `]);
    const missing = unplaced ? [` · ${t("without_coordinates", { n: unplaced })}`] : [];
    legend.replaceChildren(...parts, ...missing);
  }

  return {
    /** Draw the dwellings of the area ``name`` with its areas below (``children`` of the counts). */
    show(name, dwellings, children) {
      shown = { name, dwellings, children };
      draw();
    },
  };
}

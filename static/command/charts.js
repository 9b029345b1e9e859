// What the command centre's panels share: ECharts (vendored, canvas renderer), colours, sizes, toggles.
import * as echarts from "/static/vendor/echarts-6.1.0/echarts.esm.min.js";

export { echarts };

export const COLOURS = {
  arrivals: "#0b4f8a",
  lastYear: "#a9bccd",
  nights: "#d9822b",
  nightsLastYear: "#e9b98a",
  departures: "#8fb4d9",
  red: "#c62828",
  yellow: "#f2b300",
  green: "#2e7d32",
  text: "#3d4750",
  grid: "#e4e9ee",
};

/** The page's base font size in px: larger on a wall screen (police.css), so the charts' text follows it. */
export function baseFont() {
  return parseFloat(getComputedStyle(document.body).fontSize) || 16;
}

const measuring = document.createElement("canvas").getContext("2d");

/** How wide ``text`` is drawn at ``size`` px in the page's font (``weight``: "bold" or "normal"). */
export function textWidth(text, size, weight = "normal") {
  measuring.font = `${weight} ${size}px ${getComputedStyle(document.body).fontFamily}`;
  return measuring.measureText(text).width;
}

/** Whether ``element`` has a box to draw in (a hidden tab's has none). */
export const drawable = (element) => element.clientWidth > 0 && element.clientHeight > 0;

/**
 * An ECharts instance drawing into ``element`` on a canvas (the SVG renderer sets style attributes,
 * which the pages' CSP forbids), resized with its box: a hidden tab's chart draws when it is shown.
 * ``onResize`` (after the chart's own resize) is for a chart whose layout depends on its box's shape.
 */
export function chartIn(element, onResize) {
  const chart = echarts.init(element, null, { renderer: "canvas" });
  new ResizeObserver(() => {
    if (!drawable(element)) return;
    chart.resize();
    onResize?.();
  }).observe(element);
  return chart;
}

/** Options every chart shares: readable text, a summary in words, no animation on a wall screen. */
export function common(description) {
  const size = Math.round(baseFont() * 0.8);
  return {
    animation: false,
    // The box's aria-label (role img): what a screen reader says instead of the drawing.
    aria: { enabled: true, label: { description } },
    textStyle: { fontSize: size, color: COLOURS.text, fontFamily: getComputedStyle(document.body).fontFamily },
    tooltip: { trigger: "axis", textStyle: { fontSize: size } },
  };
}

export function axisLabel(extra = {}) {
  return { fontSize: Math.round(baseFont() * 0.75), color: COLOURS.text, hideOverlap: true, ...extra };
}

/**
 * A row of buttons of which one is pressed (aria-pressed): ``onChange(mode)`` when another is chosen.
 * Returns the chosen mode now.
 */
export function segmented(group, onChange) {
  let mode = group.querySelector('[aria-pressed="true"]').dataset.mode;
  group.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-mode]");
    if (!button || button.dataset.mode === mode) return;
    mode = button.dataset.mode;
    for (const other of group.querySelectorAll("button[data-mode]")) {
      other.setAttribute("aria-pressed", String(other === button));
    }
    onChange(mode);
  });
  return () => mode;
}

export const formatNumber = (value) => (value == null ? "—" : Number(value).toLocaleString("zh-CN"));

export function percent(value, digits = 0) {
  return value == null ? "—" : `${(value * 100).toFixed(digits)}%`;
}

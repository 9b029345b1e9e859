// Occupancy tiles: one per area below, coloured by bed occupancy now (guests / beds); a tile opens its area.
import { el } from "/static/api.js";
import { t } from "/static/police-lang.js";
import { formatNumber, percent } from "./charts.js";

// The capacity warnings' default thresholds (yellow at 80%, red at 100%: LB/T 034-2014's first warning).
const BANDS = [[1, "occ-over"], [0.8, "occ-high"], [0.5, "occ-mid"], [0, "occ-low"]];

function band(rate) {
  if (rate == null) return "occ-none";
  return BANDS.find(([from]) => rate >= from)[1];
}

function tile(area, onOpen) {
  const rate = area.beds ? area.current_guests / area.beds : null;
  return el("li", {}, el("button", { type: "button", class: `area-tile ${band(rate)}`, onclick: onOpen && (() => onOpen(area.area, area.name)) },
    el("span", { class: "tile-name" }, area.name),
    el("span", { class: "tile-rate" }, rate == null ? t("tile_no_beds") : percent(rate)),
    el("span", { class: "tile-facts" }, t("tile_beds", { guests: formatNumber(area.current_guests), beds: formatNumber(area.beds) })),
    el("span", { class: "tile-facts" }, t("tile_facts", { floating: formatNumber(area.floating_population), foreign: formatNumber(area.foreign_guests) }))));
}

export function createAreaTiles(onOpen) {
  const list = document.getElementById("area-tiles");
  return {
    show(counts) {
      if (!counts.children.length) {
        list.replaceChildren(tile(counts, null),
          el("li", { class: "muted" }, t("no_areas_below")));
        return;
      }
      // In the areas' own order: tiles that moved with every count would lose the eye on a wall screen.
      list.replaceChildren(...counts.children.map((child) => tile(child, onOpen)));
    },
  };
}

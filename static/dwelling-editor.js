// The landlord's form to add or edit a dwelling: name, address, area, kind, beds, and coordinates typed
// or picked on a small map of the owner's other dwellings (drawn here, no map tiles from the internet).
import { ApiError, el } from "/static/api.js";
import { translator } from "/static/lang.js";

export const KINDS = ["rental_room", "homestay", "dormitory", "hotel_room"];
const SVG = "http://www.w3.org/2000/svg";
const MAP_WIDTH = 320;
const MAP_HEIGHT = 200;
const SMALLEST_SPAN = 0.004; // degrees: about 400 m, so one dwelling alone still has room around it

const TEXTS = {
  en: {
    add_title: "Add a dwelling",
    edit_title: "Edit {name}",
    name: "Name",
    name_hint: "As on the door: room number, or house name",
    address: "Address",
    area: "Area",
    area_moves: "Moved to another area, its guests count there from now on; past stays stay counted where they happened.",
    area_occupied: "Guests are staying here: the area can be changed once all of them have checked out.",
    choose: "Please choose",
    kind: "Kind",
    "kind.rental_room": "Rental room",
    "kind.homestay": "Homestay",
    "kind.dormitory": "Dormitory",
    "kind.hotel_room": "Hotel room",
    capacity: "Beds",
    latitude: "Latitude",
    longitude: "Longitude",
    coordinates_hint: "Tap the map to place it among your other dwellings, or type the coordinates.",
    map: "Map of your dwellings; tap to place this one",
    no_map: "The map appears once some of your dwellings have coordinates: type them for now.",
    save: "Save",
    create: "Add dwelling",
    cancel: "Cancel",
    fix_fields: "Please correct the marked fields.",
    required: "This field is required.",
  },
  zh: {
    add_title: "添加住所",
    edit_title: "编辑 {name}",
    name: "名称",
    name_hint: "与门牌一致：房间号或房屋名称",
    address: "地址",
    area: "所属区域",
    area_moves: "改到其他区域后，此后的住客在新区域统计；以往的住宿仍计在原区域。",
    area_occupied: "该住所有住客在住：全部退房后才能更改所属区域。",
    choose: "请选择",
    kind: "类型",
    "kind.rental_room": "出租房",
    "kind.homestay": "民宿",
    "kind.dormitory": "宿舍",
    "kind.hotel_room": "旅馆客房",
    capacity: "床位数",
    latitude: "纬度",
    longitude: "经度",
    coordinates_hint: "在地图上点选位置（图中是您的其他住所），或直接输入经纬度。",
    map: "您的住所分布图，点选以确定此住所的位置",
    no_map: "您的住所有了坐标后这里会显示地图，现在请直接输入经纬度。",
    save: "保存",
    create: "添加住所",
    cancel: "取消",
    fix_fields: "请更正标出的内容。",
    required: "此项必填。",
  },
};
const text = translator(TEXTS);

export const kindLabel = (lang, kind) => text(lang, `kind.${kind}`);

/**
 * The form. ``dwelling``: the one to edit, or null to add one. ``others``: the owner's dwellings (points
 * on the map). ``areas``: [{code, name}]. ``save(body)`` sends it and throws an ApiError when refused.
 */
export function dwellingEditor({ lang, dwelling, others, areas, defaultArea, save, onCancel }) {
  const t = (key, params) => text(lang, key, params);
  const fields = {};
  const field = (name, control, hint = null) => {
    control.id = `dwelling-${name}`;
    control.name = name;
    const error = el("p", { class: "field-error", id: `dwelling-${name}-error` });
    control.setAttribute("aria-describedby", [hint && `dwelling-${name}-hint`, error.id].filter(Boolean).join(" "));
    fields[name] = { control, error };
    return el("div", { class: "field" },
      el("label", { for: control.id }, t(name)),
      hint ? el("p", { class: "hint", id: `dwelling-${name}-hint` }, hint) : null,
      control, error);
  };
  const value = (name) => dwelling?.[name] ?? "";
  const areaChoice = dwelling?.area_code ?? defaultArea ?? "";
  const occupied = (dwelling?.current_guests ?? 0) > 0;
  const areaSelect = el("select", { required: true },
    el("option", { value: "" }, t("choose")),
    ...areas.map((a) => el("option", { value: a.code, selected: a.code === areaChoice }, `${a.name} (${a.code})`)));
  const kindSelect = el("select", { required: true },
    ...KINDS.map((k) => el("option", { value: k, selected: k === (dwelling?.kind ?? "rental_room") }, kindLabel(lang, k))));
  const latitude = el("input", { type: "number", step: "any", min: "-90", max: "90", inputmode: "decimal", value: value("latitude") });
  const longitude = el("input", { type: "number", step: "any", min: "-180", max: "180", inputmode: "decimal", value: value("longitude") });
  const status = el("p", { class: "form-status", role: "status" });
  const map = pickerMap(lang, others.filter((o) => o.id !== dwelling?.id), latitude, longitude);

  const form = el("form", { class: "dwelling-editor", novalidate: true, "aria-labelledby": "dwelling-editor-title" },
    el("h3", { id: "dwelling-editor-title" }, dwelling ? t("edit_title", { name: dwelling.name }) : t("add_title")),
    field("name", el("input", { required: true, maxlength: "200", autocomplete: "off", value: value("name") }), t("name_hint")),
    field("address", el("input", { required: true, maxlength: "500", autocomplete: "off", value: value("address") })),
    el("div", { class: "row" },
      field("area_code", areaSelect),
      field("kind", kindSelect),
      field("capacity", el("input", { type: "number", min: "1", max: "10000", required: true, inputmode: "numeric",
        value: value("capacity") || "2" }))),
    dwelling ? el("p", { class: "hint", id: "dwelling-area-note" }, t(occupied ? "area_occupied" : "area_moves")) : null,
    el("p", { class: "hint", id: "dwelling-coordinates-hint" }, t("coordinates_hint")),
    map,
    el("div", { class: "row" }, field("latitude", latitude), field("longitude", longitude)),
    status,
    el("p", { class: "actions" },
      el("button", { type: "submit" }, dwelling ? t("save") : t("create")),
      el("button", { type: "button", class: "secondary", onclick: onCancel }, t("cancel"))),
  );
  // The area's label is "area_code" in the form's names, "area" for people.
  form.querySelector("label[for='dwelling-area_code']").textContent = t("area");

  const showErrors = (errors) => {
    for (const [name, entry] of Object.entries(fields)) {
      const message = errors[name];
      entry.error.textContent = message ?? "";
      entry.control.setAttribute("aria-invalid", message ? "true" : "false");
    }
    const first = Object.keys(fields).find((name) => errors[name]);
    if (first) {
      status.className = "form-status error";
      status.textContent = t("fix_fields");
      fields[first].control.focus();
    }
  };

  // A field fixed is no longer marked; the banner goes with the last mark.
  form.addEventListener("input", (event) => {
    const entry = fields[event.target.name];
    if (!entry || entry.control.getAttribute("aria-invalid") !== "true") return;
    entry.error.textContent = "";
    entry.control.setAttribute("aria-invalid", "false");
    if (!Object.values(fields).some((f) => f.control.getAttribute("aria-invalid") === "true")) {
      status.className = "form-status";
      status.textContent = "";
    }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      name: fields.name.control.value.trim(),
      address: fields.address.control.value.trim(),
      area_code: areaSelect.value,
      kind: kindSelect.value,
      capacity: Number(fields.capacity.control.value),
      latitude: latitude.value === "" ? null : Number(latitude.value),
      longitude: longitude.value === "" ? null : Number(longitude.value),
    };
    const missing = Object.fromEntries(["name", "address", "area_code"].filter((k) => !body[k]).map((k) => [k, t("required")]));
    if (!(body.capacity >= 1)) missing.capacity = t("required");
    showErrors(missing);
    if (Object.keys(missing).length) return;
    if (dwelling && body.area_code === dwelling.area_code) delete body.area_code; // a move only when asked for
    status.className = "form-status";
    status.textContent = "";
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await save(body);
    } catch (err) {
      if (err instanceof ApiError && err.problem?.errors?.length) {
        showErrors(Object.fromEntries(err.problem.errors.map((e) => [e.field, e.message])));
      } else {
        status.className = "form-status error";
        status.textContent = err.message;
      }
    } finally {
      button.disabled = false;
    }
  });
  if (dwelling) {
    // The service refuses to move a dwelling with guests (409 dwelling_occupied); the form says so first.
    areaSelect.disabled = occupied;
    areaSelect.setAttribute("aria-describedby", `dwelling-area-note ${areaSelect.getAttribute("aria-describedby")}`);
  }
  return form;
}

/** An SVG of the other dwellings' points; a tap writes the coordinates under it into the two inputs. */
function pickerMap(lang, others, latitude, longitude) {
  const points = others.filter((o) => o.latitude != null && o.longitude != null);
  const own = () => (latitude.value !== "" && longitude.value !== "" ? [Number(latitude.value), Number(longitude.value)] : null);
  const start = own();
  const lats = [...points.map((p) => p.latitude), ...(start ? [start[0]] : [])];
  const lons = [...points.map((p) => p.longitude), ...(start ? [start[1]] : [])];
  if (!lats.length) return el("p", { class: "muted" }, text(lang, "no_map"));
  const middle = (xs) => (Math.min(...xs) + Math.max(...xs)) / 2;
  const latSpan = Math.max(SMALLEST_SPAN, (Math.max(...lats) - Math.min(...lats)) * 1.2);
  const lonSpan = Math.max(latSpan * (MAP_WIDTH / MAP_HEIGHT), (Math.max(...lons) - Math.min(...lons)) * 1.2);
  const top = middle(lats) + latSpan / 2;
  const left = middle(lons) - lonSpan / 2;
  const x = (lon) => ((lon - left) / lonSpan) * MAP_WIDTH;
  const y = (lat) => ((top - lat) / latSpan) * MAP_HEIGHT;

  const svg = document.createElementNS(SVG, "svg");
  const node = (tag, attrs) => {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    return n;
  };
  svg.setAttribute("viewBox", `0 0 ${MAP_WIDTH} ${MAP_HEIGHT}`);
  svg.setAttribute("class", "picker-map");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", text(lang, "map"));
  svg.append(node("rect", { x: 0, y: 0, width: MAP_WIDTH, height: MAP_HEIGHT, class: "map-ground" }));
  for (const p of points) {
    const dot = node("circle", { cx: x(p.longitude), cy: y(p.latitude), r: 4, class: "map-other" });
    dot.append(node("title", {}));
    dot.firstChild.textContent = p.name;
    svg.append(dot);
  }
  const marker = node("circle", { r: 7, class: "map-here" });
  const place = () => {
    const at = own();
    marker.classList.toggle("hidden", !at);
    if (at) {
      marker.setAttribute("cx", x(at[1]));
      marker.setAttribute("cy", y(at[0]));
    }
  };
  svg.append(marker);
  place();
  svg.addEventListener("click", (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * MAP_WIDTH;
    const py = ((event.clientY - box.top) / box.height) * MAP_HEIGHT;
    latitude.value = (top - (py / MAP_HEIGHT) * latSpan).toFixed(6);
    longitude.value = (left + (px / MAP_WIDTH) * lonSpan).toFixed(6);
    place();
  });
  latitude.addEventListener("input", place);
  longitude.addEventListener("input", place);
  return svg;
}

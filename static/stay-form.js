// The registration form, shared by the guest page (/r/{token}) and the desk's walk-in form
// (/landlord): fields, companions, client-side checks and the server's field errors.
import { el } from "/static/api.js";
import { localDate, translator } from "/static/lang.js";

// The client-side checks mirror the server's (static/documents.js). They only spare a round
// trip: if the module fails to load on a bad network the form still works and the server,
// which stays the authority, answers with the same messages.
let checks = {};
try {
  checks = await import("/static/documents.js");
} catch (err) {
  console.error("client-side checks unavailable; the server still checks everything", err);
}

export const DOCUMENT_TYPES = ["resident_id", "passport", "hk_macao_permit", "taiwan_permit", "foreign_permanent_residence"];
export const RELATIONSHIPS = ["child", "grandchild", "sibling", "ward", "other"];
const NATIONALITY_REQUIRED = new Set(["passport", "foreign_permanent_residence"]);
const MAX_COMPANIONS = 19;
const LONGEST_STAY_DAYS = 90; // the server's VH_LONGEST_STAY_DAYS default; the server decides

const TEXTS = {
  en: {
    full_name: "Full name",
    document_type: "Document type",
    document_number: "Document number",
    nationality: "Nationality",
    phone: "Phone",
    phone_hint: "Mainland mobile or landline, or + and the country code",
    check_in: "Check-in date",
    check_out: "Check-out date",
    "doc.resident_id": "Resident identity card",
    "doc.passport": "Passport",
    "doc.hk_macao_permit": "Hong Kong/Macao permit",
    "doc.taiwan_permit": "Taiwan permit",
    "doc.foreign_permanent_residence": "Foreigner's permanent residence card",
    choose: "Please choose",
    companions: "Companions",
    companions_hint: "Everyone staying with you registers here too.",
    companion: "Companion {n}",
    add_companion: "Add companion",
    remove_companion: "Remove",
    minor: "Minor without document",
    relationship: "Relationship to you",
    relationship_clerk: "Relationship to the main guest",
    "rel.child": "Child",
    "rel.grandchild": "Grandchild",
    "rel.sibling": "Sibling",
    "rel.ward": "Ward",
    "rel.other": "Other",
    required: "This field is required.",
    invalid_value: "This value is not valid.",
    companion_needs_document_or_relationship: "Enter a document, or mark a minor without a document and choose the relationship.",
    fix_fields: "Please correct the marked fields.",
  },
  zh: {
    full_name: "姓名",
    document_type: "证件类型",
    document_number: "证件号码",
    nationality: "国籍",
    phone: "手机号码",
    phone_hint: "中国大陆手机或固定电话，或“+国家代码”开头的号码",
    check_in: "入住日期",
    check_out: "预计退房日期",
    "doc.resident_id": "居民身份证",
    "doc.passport": "护照",
    "doc.hk_macao_permit": "港澳居民来往内地通行证",
    "doc.taiwan_permit": "台湾居民来往大陆通行证",
    "doc.foreign_permanent_residence": "外国人永久居留身份证",
    choose: "请选择",
    companions: "同住人",
    companions_hint: "与您同住的每个人都需要登记。",
    companion: "同住人 {n}",
    add_companion: "添加同住人",
    remove_companion: "删除",
    minor: "未成年人，无证件",
    relationship: "与您的关系",
    relationship_clerk: "与主住客的关系",
    "rel.child": "子女",
    "rel.grandchild": "孙子女",
    "rel.sibling": "兄弟姐妹",
    "rel.ward": "被监护人",
    "rel.other": "其他",
    required: "此项必填。",
    invalid_value: "此项格式不正确。",
    companion_needs_document_or_relationship: "请填写证件，或勾选“未成年人，无证件”并选择关系。",
    fix_fields: "请修改标出的内容。",
  },
};
export const formText = translator(TEXTS);

/** The message of an error code in a language: the shared catalogue first, then ours. */
export function messageFor(lang, code) {
  return checks.MESSAGES?.[lang]?.[code] ?? TEXTS[lang][code] ?? checks.MESSAGES?.en?.[code] ?? TEXTS[lang].invalid_value;
}

export function documentLabel(lang, type) {
  return type ? formText(lang, `doc.${type}`) : "";
}

export function relationshipLabel(lang, relationship) {
  return relationship ? formText(lang, `rel.${relationship}`) : "";
}

// ---- nationalities: ISO 3166-1 alpha-3, named in the page's language by the browser ----

// alpha-3 codes whose alpha-2 code is not their first two letters (Intl names regions by alpha-2).
const ALPHA2 = Object.fromEntries(
  ("ABW:AW AGO:AO ALA:AX AND:AD ARE:AE ARM:AM ATA:AQ ATF:TF ATG:AG AUT:AT BDI:BI BEN:BJ BES:BQ BGD:BD BHS:BS " +
   "BIH:BA BLR:BY BLZ:BZ BRB:BB BRN:BN CAF:CF CHL:CL CHN:CN COD:CD COG:CG COK:CK COM:KM CPV:CV CUW:CW CYM:KY " +
   "DNK:DK ESH:EH EST:EE FLK:FK FRO:FO FSM:FM GIN:GN GLP:GP GNB:GW GNQ:GQ GRD:GD GRL:GL GUF:GF GUY:GY IRL:IE " +
   "IRQ:IQ ISR:IL JAM:JM KAZ:KZ KOR:KR LBR:LR LBY:LY MAC:MO MAF:MF MDG:MG MDV:MV MEX:MX MLT:MT MNE:ME MNP:MP " +
   "MOZ:MZ MTQ:MQ MYT:YT NIU:NU PAK:PK PCN:PN PLW:PW PNG:PG POL:PL PRK:KP PRT:PT PRY:PY PYF:PF SEN:SN SGS:GS " +
   "SLB:SB SLV:SV SPM:PM SRB:RS SUR:SR SVK:SK SVN:SI SWE:SE SWZ:SZ SYC:SC TCD:TD TKM:TM TUN:TN TUR:TR TUV:TV " +
   "UKR:UA URY:UY WLF:WF").split(" ").map((pair) => pair.split(":")),
);
const FIRST = ["CHN", "HKG", "MAC", "TWN"];
const optionCache = {};

function nationalityCodes() {
  const list = checks.NATIONALITIES;
  if (!list) return FIRST;
  const codes = Array.isArray(list) || list instanceof Set ? [...list] : Object.keys(list);
  return codes.map((c) => (typeof c === "string" ? c : c.code)).filter(Boolean);
}

/** [{code, name}] sorted by name in the language, China and its SARs first. */
export function nationalityOptions(lang) {
  if (optionCache[lang]) return optionCache[lang];
  let names = null;
  try {
    names = new Intl.DisplayNames([lang === "zh" ? "zh-CN" : "en"], { type: "region" });
  } catch {
    /* an old browser: codes only */
  }
  const nameOf = (code) => {
    try {
      const name = names?.of(ALPHA2[code] ?? code.slice(0, 2));
      return name && name !== code ? `${name} (${code})` : code;
    } catch {
      return code;
    }
  };
  const collator = new Intl.Collator(lang === "zh" ? "zh-CN" : "en");
  const all = nationalityCodes().map((code) => ({ code, name: nameOf(code) }));
  const first = FIRST.map((code) => all.find((o) => o.code === code)).filter(Boolean);
  const rest = all.filter((o) => !FIRST.includes(o.code)).sort((a, b) => collator.compare(a.name, b.name));
  optionCache[lang] = [...first, ...rest];
  return optionCache[lang];
}

// ---- blur checks without moving the button under a finger ----

// A message appearing on blur pushes what is below it down. If that blur came from pressing a
// button (Add companion, Register), the button would move away before the press ends and the
// press would be lost; so messages found on blur are shown once the press is over.
let pressing = false;
const afterPress = [];
document.addEventListener("pointerdown", () => { pressing = true; }, true);
for (const type of ["pointerup", "pointercancel"]) {
  document.addEventListener(type, () => setTimeout(() => {
    pressing = false;
    afterPress.splice(0).forEach((fn) => fn());
  }, 0), true);
}
function soon(fn) {
  if (pressing) afterPress.push(fn);
  else setTimeout(fn, 0);
}

// ---- values ----

export function emptyCompanion() {
  return { full_name: "", minor: false, document_type: "resident_id", document_number: "", nationality: "", relationship: "" };
}

/** A fresh form: today's and tomorrow's dates in the browser's own time zone. */
export function emptyValues() {
  return {
    full_name: "", document_type: "resident_id", document_number: "", nationality: "", phone: "",
    check_in: localDate(0), check_out: localDate(1), companions: [],
  };
}

function normaliseValues(values) {
  const base = { ...emptyValues(), ...(values || {}) };
  base.companions = (Array.isArray(base.companions) ? base.companions : []).map((c) => ({ ...emptyCompanion(), ...c }));
  return base;
}

const needsNationality = (type) => NATIONALITY_REQUIRED.has(type);
// Full-width characters from Chinese keyboards become ASCII; blanks go.
const compact = (value) => (value || "").normalize("NFKC").replace(/\s+/g, "").toUpperCase();

function call(fn, ...args) {
  if (typeof fn !== "function") return null;
  try {
    return fn(...args) ?? null;
  } catch (err) {
    console.error(err);
    return null;
  }
}

/** The request body of the stays API, from the form's values. */
export function stayBody(values) {
  const person = (p) => ({
    full_name: p.full_name.trim(),
    document_type: p.document_type,
    document_number: compact(p.document_number),
    nationality: needsNationality(p.document_type) ? p.nationality || null : null,
  });
  return {
    ...person(values),
    phone: values.phone.trim(),
    check_in: values.check_in,
    check_out: values.check_out,
    companions: values.companions.map((c) =>
      c.minor ? { full_name: c.full_name.trim(), relationship: c.relationship } : person(c)),
  };
}

// ---- the form ----

/**
 * Build the form (``clerk``: a desk clerk fills it in for the guests, so it speaks of "the main guest"). ``onChange(values)`` after every edit (to keep a draft), ``onSubmit(form)``
 * once the client-side checks pass. Returns a controller; ``element`` is the <form>.
 */
export function createStayForm({ lang, values, idPrefix = "stay", submitLabel, onChange, onSubmit, clerk = false }) {
  const state = {
    lang,
    values: normaliseValues(values),
    errors: new Map(), // path -> {code, message?, lang?}
    touched: new Set(),
    busy: false,
    status: null, // {kind, text: string | (lang) => string}
    nextUid: 0,
  };
  const uids = state.values.companions.map(() => state.nextUid++);
  let fields = new Map(); // path -> {control, wrapper, errorAfter}
  const form = el("form", { class: "stay-form", novalidate: true, onsubmit: submit });
  const t = (key, params) => formText(state.lang, key, params);

  // values by path: "phone", "companions.0.document_number"
  function personOf(path) {
    const parts = path.split(".");
    if (parts[0] === "companions" && parts.length === 3) return [state.values.companions[Number(parts[1])], parts[2], true];
    return [state.values, parts[0], false];
  }

  function changed(path, value) {
    const [person, name] = personOf(path);
    if (!person) return;
    person[name] = value;
    state.touched.add(path);
    onChange?.(state.values);
  }

  // ---- checks ----

  function codeFor(path) {
    const [p, name, isCompanion] = personOf(path);
    if (!p) return null;
    // documents.js dates its checks by the service's calendar (Asia/Shanghai), as the server does.
    const hasDocument = !(isCompanion && p.minor);
    switch (name) {
      case "full_name":
        return p.full_name.trim() ? null : "required";
      case "document_type":
        return !hasDocument || p.document_type ? null : "required";
      case "document_number": {
        if (!hasDocument) return null;
        if (!compact(p.document_number)) return "required";
        const nationality = needsNationality(p.document_type) ? p.nationality || null : null;
        const code = call(checks.checkDocument, p.document_type, compact(p.document_number), nationality);
        return code && !code.startsWith("nationality") ? code : null;
      }
      case "nationality": {
        if (!hasDocument || !needsNationality(p.document_type)) return null;
        if (!p.nationality) return "nationality_required";
        return nationalityCodes().includes(p.nationality) || !checks.NATIONALITIES ? null : "nationality_unknown";
      }
      case "relationship":
        return hasDocument || p.relationship ? null : "required";
      case "phone":
        if (!p.phone.trim()) return "required";
        return call(checks.checkPhone, p.phone.trim());
      case "check_in":
      case "check_out": {
        if (!p[name]) return "required";
        if (!p.check_in || !p.check_out) return null;
        const found = call(checks.checkDates, p.check_in, p.check_out, LONGEST_STAY_DAYS);
        return found && found.field === name ? found.code : null;
      }
      default:
        return null;
    }
  }

  function visiblePaths() {
    const paths = ["full_name", "document_type", "document_number"];
    if (needsNationality(state.values.document_type)) paths.push("nationality");
    paths.push("phone", "check_in", "check_out");
    state.values.companions.forEach((c, i) => {
      const at = (name) => `companions.${i}.${name}`;
      paths.push(at("full_name"));
      if (c.minor) paths.push(at("relationship"));
      else {
        paths.push(at("document_type"), at("document_number"));
        if (needsNationality(c.document_type)) paths.push(at("nationality"));
      }
    });
    return paths;
  }

  function validate(path) {
    const code = codeFor(path);
    if (code) state.errors.set(path, { code });
    else state.errors.delete(path);
    showError(path);
    // "Please correct the marked fields" goes once the last marked field is corrected.
    if (!state.errors.size && state.status?.forErrors) setStatus(null);
    return !code;
  }

  // Dates are checked together: an error may move from one to the other.
  function validateDates() {
    validate("check_in");
    validate("check_out");
  }

  /** Check every visible field; returns true when all pass, else focuses the first wrong one. */
  function validateAll() {
    const paths = visiblePaths();
    for (const path of [...state.errors.keys()]) if (!paths.includes(path)) state.errors.delete(path);
    const bad = paths.filter((path) => !validate(path));
    renderGeneralErrors();
    if (bad.length) {
      focusField(bad[0]);
      return false;
    }
    return true;
  }

  // ---- error display: a .field-error right below the field, linked by aria-describedby ----

  function errorText(error) {
    if (error.message && (error.lang === state.lang || !checks.MESSAGES?.[state.lang]?.[error.code])) return error.message;
    return messageFor(state.lang, error.code);
  }

  function showError(path) {
    const field = fields.get(path);
    if (!field) return false;
    const error = state.errors.get(path);
    const errorId = `${field.id}-error`;
    form.querySelector(`[id="${errorId}"]`)?.remove();
    const control = field.control;
    if (!error) {
      control?.removeAttribute("aria-invalid");
      if (field.hintId) control?.setAttribute("aria-describedby", field.hintId);
      else control?.removeAttribute("aria-describedby");
      return true;
    }
    const node = el("p", { class: "field-error", id: errorId }, errorText(error));
    if (control) {
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", field.hintId ? `${errorId} ${field.hintId}` : errorId);
      field.errorAfter.after(node);
    } else {
      field.wrapper.append(node); // a whole companion
    }
    return true;
  }

  // Errors of fields the form does not show (or that name no field) go above the button.
  function renderGeneralErrors() {
    const box = form.querySelector(".form-errors");
    if (!box) return;
    const general = [...state.errors.entries()].filter(([path]) => !fields.has(path));
    box.replaceChildren(...general.map(([, error]) => el("li", {}, errorText(error))));
    box.classList.toggle("hidden", general.length === 0);
  }

  function focusField(path) {
    const field = fields.get(path);
    const target = field?.control ?? field?.wrapper;
    if (!target) return;
    target.scrollIntoView?.({ block: "center" });
    target.focus?.({ preventScroll: true });
  }

  // ---- building the fields ----

  function control(path, node, { validateOn = "blur" } = {}) {
    const [person, name] = personOf(path);
    const isCheckbox = node.type === "checkbox";
    if (isCheckbox) node.checked = Boolean(person[name]);
    else node.value = person[name] ?? "";
    node.name = path;
    node.addEventListener(isCheckbox || node.tagName === "SELECT" ? "change" : "input", () => {
      changed(path, isCheckbox ? node.checked : node.value);
      // An error already shown goes as soon as the entry is right.
      if (state.errors.has(path) && !codeFor(path)) validate(path);
    });
    if (validateOn === "blur") {
      node.addEventListener("blur", () => soon(() => {
        // A server's message stays until the entry is changed; a message of ours is checked again.
        if (state.touched.has(path) || (state.errors.has(path) && !state.errors.get(path).message)) {
          if (name === "check_in" || name === "check_out") validateDates();
          else validate(path);
        }
      }));
    }
    return node;
  }

  function field(path, id, label, node, { hint, hidden = false } = {}) {
    node.id = id;
    const children = [el("label", { for: id }, label)];
    const hintId = hint ? `${id}-hint` : null;
    if (hint) {
      children.push(el("p", { class: "hint", id: hintId }, hint));
      node.setAttribute("aria-describedby", hintId);
    }
    children.push(node);
    const wrapper = el("div", { class: hidden ? "field hidden" : "field" }, ...children);
    fields.set(path, { id, control: node, wrapper, errorAfter: node, hintId });
    return wrapper;
  }

  function selectOf(options, value, { placeholder } = {}) {
    const node = el("select", {},
      placeholder ? el("option", { value: "" }, placeholder) : null,
      ...options.map(([v, text]) => el("option", { value: v }, text)));
    node.value = value ?? "";
    return node;
  }

  // Name, document type, number and (for passports and permanent residence cards) nationality.
  function personFields(prefix, id, person) {
    const path = (name) => (prefix ? `${prefix}.${name}` : name);
    const typeSelect = control(path("document_type"),
      selectOf(DOCUMENT_TYPES.map((type) => [type, documentLabel(state.lang, type)]), person.document_type));
    const nationality = field(path("nationality"), `${id}-nationality`, t("nationality"),
      control(path("nationality"),
        selectOf(nationalityOptions(state.lang).map((o) => [o.code, o.name]), person.nationality, { placeholder: t("choose") })),
      { hidden: !needsNationality(person.document_type) });
    typeSelect.addEventListener("change", () => {
      const needs = needsNationality(person.document_type);
      nationality.classList.toggle("hidden", !needs);
      // Most passports here are Chinese ones; a permanent residence card is a foreigner's.
      if (needs && !person.nationality && person.document_type === "passport") {
        const select = nationality.querySelector("select");
        select.value = "CHN";
        changed(path("nationality"), "CHN");
      }
      if (!needs) {
        state.errors.delete(path("nationality"));
        showError(path("nationality"));
      }
      if (state.errors.has(path("document_number")) || state.touched.has(path("document_number"))) validate(path("document_number"));
    });
    const number = control(path("document_number"), el("input", {
      type: "text", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", maxlength: "40",
    }));
    return [
      field(path("document_type"), `${id}-document_type`, t("document_type"), typeSelect),
      field(path("document_number"), `${id}-document_number`, t("document_number"), number),
      nationality,
    ];
  }

  function companionFieldset(companion, index) {
    const uid = uids[index];
    const prefix = `companions.${index}`;
    const id = `${idPrefix}-c${uid}`;
    const legend = el("legend", {}, t("companion", { n: index + 1 }));
    const remove = el("button", {
      type: "button", class: "secondary remove-companion",
      "aria-label": `${t("remove_companion")} — ${t("companion", { n: index + 1 })}`,
      onclick: () => removeCompanion(index),
    }, t("remove_companion"));
    const minor = control(`${prefix}.minor`, el("input", { type: "checkbox" }), { validateOn: "none" });
    minor.id = `${id}-minor`;
    const documentPart = el("div", { class: companion.minor ? "hidden" : "" }, ...personFields(prefix, id, companion));
    const relationship = field(`${prefix}.relationship`, `${id}-relationship`, t(clerk ? "relationship_clerk" : "relationship"),
      control(`${prefix}.relationship`,
        selectOf(RELATIONSHIPS.map((r) => [r, relationshipLabel(state.lang, r)]), companion.relationship, { placeholder: t("choose") })),
      { hidden: !companion.minor });
    minor.addEventListener("change", () => {
      documentPart.classList.toggle("hidden", companion.minor);
      relationship.classList.toggle("hidden", !companion.minor);
      for (const name of ["document_type", "document_number", "nationality", "relationship", ""]) {
        const path = name ? `${prefix}.${name}` : prefix;
        if (state.errors.delete(path)) showError(path);
      }
    });
    const fieldset = el("fieldset", { class: "companion", id },
      legend, remove, el("div", { class: "clear" }),
      field(`${prefix}.full_name`, `${id}-full_name`, t("full_name"),
        control(`${prefix}.full_name`, el("input", { type: "text", autocomplete: "off", maxlength: "100" }))),
      el("label", { class: "check", for: minor.id }, minor, el("span", {}, t("minor"))),
      documentPart,
      relationship,
    );
    fields.set(prefix, { id, control: null, wrapper: fieldset, errorAfter: fieldset });
    return fieldset;
  }

  function addCompanion() {
    if (state.values.companions.length >= MAX_COMPANIONS) return;
    state.values.companions.push(emptyCompanion());
    uids.push(state.nextUid++);
    onChange?.(state.values);
    render();
    focusField(`companions.${state.values.companions.length - 1}.full_name`);
  }

  function removeCompanion(index) {
    state.values.companions.splice(index, 1);
    uids.splice(index, 1);
    // Paths of the companions after it change: their errors are checked again on submit.
    for (const path of [...state.errors.keys()]) if (path.startsWith("companions")) state.errors.delete(path);
    for (const path of [...state.touched]) if (path.startsWith("companions")) state.touched.delete(path);
    onChange?.(state.values);
    render();
    form.querySelector(".add-companion")?.focus();
  }

  function render() {
    fields = new Map();
    const v = state.values;
    const main = `${idPrefix}`;
    const dates = el("div", { class: "row" },
      field("check_in", `${main}-check_in`, t("check_in"),
        control("check_in", el("input", { type: "date", min: localDate(-1), max: localDate(7) }))),
      field("check_out", `${main}-check_out`, t("check_out"),
        control("check_out", el("input", { type: "date", min: localDate(-1) }))),
    );
    const companions = v.companions.map((c, i) => companionFieldset(c, i));
    const status = state.status;
    const statusText = status ? (typeof status.text === "function" ? status.text(state.lang) : status.text) : "";
    form.replaceChildren(
      field("full_name", `${main}-full_name`, t("full_name"),
        control("full_name", el("input", { type: "text", autocomplete: "name", maxlength: "100" }))),
      ...personFields("", main, v),
      field("phone", `${main}-phone`, t("phone"),
        control("phone", el("input", { type: "tel", inputmode: "tel", autocomplete: "tel", maxlength: "32" })),
        { hint: t("phone_hint") }),
      dates,
      el("section", { class: "companions", "aria-label": t("companions") },
        el("h3", {}, t("companions")),
        v.companions.length ? null : el("p", { class: "muted" }, t("companions_hint")),
        ...companions,
        el("button", {
          type: "button", class: "secondary add-companion", onclick: addCompanion,
          disabled: v.companions.length >= MAX_COMPANIONS,
        }, t("add_companion"))),
      el("ul", { class: "form-errors error hidden", role: "alert" }),
      el("p", { class: `form-status ${status?.kind ?? "hidden"}`, role: "status", "aria-live": "polite" }, statusText),
      el("p", { class: "actions" },
        el("button", { type: "submit", class: "primary submit", disabled: state.busy }, submitLabel(state.lang))),
    );
    for (const path of state.errors.keys()) showError(path);
    renderGeneralErrors();
  }

  async function submit(event) {
    event.preventDefault();
    if (state.busy) return;
    setStatus(null);
    if (!validateAll()) {
      setStatus("error", (lang) => formText(lang, "fix_fields"), { forErrors: true });
      return;
    }
    await onSubmit?.(controller);
  }

  /** ``forErrors``: the status is about the marked fields, and goes when they are all corrected. */
  function setStatus(kind, text, { forErrors = false } = {}) {
    state.status = kind ? { kind, text, forErrors } : null;
    const node = form.querySelector(".form-status");
    if (!node) return;
    node.className = `form-status ${kind ?? "hidden"}`;
    node.textContent = kind ? (typeof text === "function" ? text(state.lang) : text) : "";
  }

  const controller = {
    element: form,
    get values() {
      return state.values;
    },
    body: () => stayBody(state.values),
    validateAll,
    setLanguage(newLang) {
      state.lang = newLang;
      render();
    },
    setBusy(busy) {
      state.busy = busy;
      const button = form.querySelector("button[type=submit]");
      if (button) button.disabled = busy;
    },
    setStatus,
    /** A 400 problem's errors beside their fields, in the server's words (its language). */
    showProblem(problem) {
      state.errors.clear();
      state.touched.clear();
      for (const e of problem?.errors || []) {
        state.errors.set(e.field, { code: e.code, message: e.message, lang: state.lang });
      }
      for (const path of fields.keys()) showError(path);
      renderGeneralErrors();
      const first = [...state.errors.keys()].find((path) => fields.has(path));
      if (first) focusField(first);
      setStatus("error", problem?.title || ((lang) => formText(lang, "fix_fields")), { forErrors: state.errors.size > 0 });
    },
    reset(newValues) {
      state.values = normaliseValues(newValues);
      uids.length = 0;
      state.values.companions.forEach(() => uids.push(state.nextUid++));
      state.errors.clear();
      state.touched.clear();
      state.status = null;
      state.busy = false;
      render();
    },
  };
  render();
  return controller;
}

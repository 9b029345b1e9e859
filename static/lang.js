// The page language: Chinese or English, from the browser unless the person chose one.
import { el } from "/static/api.js";

export const LANGUAGES = ["zh", "en"];
const STORE_KEY = "vh.lang";
const HTML_LANG = { zh: "zh-CN", en: "en" };
const NAMES = { zh: "中文", en: "English" };

function stored() {
  try {
    return localStorage.getItem(STORE_KEY);
  } catch {
    return null;
  }
}

/** The chosen language, else the browser's: "zh" for any zh*, "en" for everything else. */
export function initialLanguage() {
  const chosen = stored();
  if (LANGUAGES.includes(chosen)) return chosen;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

/** The value for Accept-Language, so the server's problem texts come in the page's language. */
export function acceptLanguage(lang) {
  return HTML_LANG[lang];
}

/** Set <html lang> and remember a person's explicit choice. */
export function applyLanguage(lang, { remember = false } = {}) {
  document.documentElement.lang = HTML_LANG[lang];
  if (remember) {
    try {
      localStorage.setItem(STORE_KEY, lang);
    } catch {
      /* storage may be disabled: the choice then lasts for this page only */
    }
  }
}

/** Two buttons 中文 / English; ``onChange(lang)`` re-renders the page. */
export function languageSwitch(current, onChange) {
  const group = el("div", { class: "lang-switch", role: "group", "aria-label": "Language 语言" });
  const render = (active) => {
    group.replaceChildren(
      ...LANGUAGES.map((lang) =>
        el("button", {
          type: "button",
          lang: HTML_LANG[lang],
          class: "secondary",
          "aria-pressed": String(lang === active),
          onclick: () => {
            if (lang === active) return;
            applyLanguage(lang, { remember: true });
            render(lang);
            onChange(lang);
          },
        }, NAMES[lang]),
      ),
    );
  };
  render(current);
  return group;
}

/** Pick the text of the current language from a {zh, en} catalogue, with {name} parameters. */
export function translator(catalogue) {
  return (lang, key, params = {}) => {
    const text = catalogue[lang]?.[key] ?? catalogue.en[key] ?? key;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
  };
}

/** Today's date in the browser's own time zone, as YYYY-MM-DD. */
export function localDate(offsetDays = 0, from = new Date()) {
  const d = new Date(from.getFullYear(), from.getMonth(), from.getDate() + offsetDays);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

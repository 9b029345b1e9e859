// The administration pages: one panel per task, each its own module; the menu shows one at a time.
import { ApiError, el, isTransient, showStaff, staffApi } from "/static/api.js";
import { acceptLanguage, applyLanguage, initialLanguage, languageSwitch, translator } from "/static/lang.js";
import { createAreasPanel } from "/static/admin-areas.js";
import { createAccountsPanel } from "/static/admin-accounts.js";
import { createDwellingsPanel } from "/static/admin-dwellings.js";
import { createImportPanel } from "/static/admin-import.js";
import { createRegistryPanel } from "/static/admin-registry.js";
import { createKeysPanel } from "/static/admin-keys.js";
import { createAuditPanel } from "/static/admin-audit.js";
import { createThresholdsPanel } from "/static/admin-thresholds.js";

const t = translator({
  en: { title: "Administration", logout: "Log out", sections: "Sections", network: "Could not reach the server: please try again." },
  zh: { title: "系统管理", logout: "退出登录", sections: "功能", network: "无法连接服务器，请重试。" },
});

let lang = initialLanguage();
let areas = null;
const ctx = {
  lang: () => lang,
  call: (path, options = {}) => staffApi(path, { lang: acceptLanguage(lang), ...options }),
  /** The areas with their counts, loaded once and again after a change. */
  async areas({ reload = false } = {}) {
    if (!areas || reload) areas = await ctx.call("/api/v1/areas/counts");
    return areas;
  },
};

const panels = [createAreasPanel, createAccountsPanel, createDwellingsPanel, createImportPanel, createRegistryPanel,
  createKeysPanel, createAuditPanel, createThresholdsPanel].map((create) => create(ctx));
const activated = new Set();

const current = () => panels.find((p) => `#${p.id}` === location.hash) ?? panels[0];

function renderNav() {
  const active = current();
  document.getElementById("admin-nav").replaceChildren(el("ul", { "aria-label": t(lang, "sections") },
    ...panels.map((p) => el("li", {}, el("a", { href: `#${p.id}`, "aria-current": p === active ? "page" : null },
      p.title(lang))))));
  document.getElementById("admin-nav").setAttribute("aria-label", t(lang, "sections"));
}

async function show() {
  const active = current();
  renderNav();
  document.title = `${active.title(lang)} · ${t(lang, "title")}`;
  // A panel shows once its data is in: nothing typed into a form is replaced by the first load.
  if (!activated.has(active)) {
    activated.add(active);
    try {
      await active.activate();
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) say(isTransient(err) ? t(lang, "network") : err.message);
    }
  }
  if (active === current()) for (const p of panels) p.element.classList.toggle("hidden", p !== active);
}

function say(message) {
  const node = document.getElementById("page-status");
  node.className = message ? "error" : "hidden";
  node.textContent = message || "";
}

function renderAll() {
  document.getElementById("title").textContent = t(lang, "title");
  document.getElementById("logout").textContent = t(lang, "logout");
  for (const p of panels) p.render();
  renderNav();
  document.title = `${current().title(lang)} · ${t(lang, "title")}`;
}

async function start() {
  applyLanguage(lang);
  document.getElementById("lang").replaceChildren(languageSwitch(lang, (chosen) => {
    lang = chosen;
    renderAll();
  }));
  const me = await ctx.call("/api/v1/auth/me");
  if (me.role !== "admin") {
    location.replace("/login?next=%2Fadmin");
    return;
  }
  showStaff(me);
  document.getElementById("panels").replaceChildren(...panels.map((p) => p.element));
  renderAll();
  window.addEventListener("hashchange", show);
  await show();
}

start().catch((err) => {
  if (!(err instanceof ApiError && err.status === 401)) say(isTransient(err) ? t(lang, "network") : err.message);
});

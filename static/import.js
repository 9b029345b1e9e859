// A landlord's or hotel desk's own bulk import: the administration's import panel, for their own dwellings.
import { ApiError, isTransient, showStaff, staffApi } from "/static/api.js";
import { acceptLanguage, applyLanguage, initialLanguage, languageSwitch, translator } from "/static/lang.js";
import { createImportPanel } from "/static/admin-import.js";

const t = translator({
  en: { title: "Import dwellings", back: "My dwellings", logout: "Log out", network: "Could not reach the server: please try again." },
  zh: { title: "导入住所", back: "我的住所", logout: "退出登录", network: "无法连接服务器，请重试。" },
});

let lang = initialLanguage();
const ctx = { lang: () => lang, call: (path, options = {}) => staffApi(path, { lang: acceptLanguage(lang), ...options }) };
const panel = createImportPanel(ctx, { ownImport: true });

function renderAll() {
  document.title = t(lang, "title");
  document.getElementById("title").textContent = t(lang, "title");
  document.getElementById("back").textContent = t(lang, "back");
  document.getElementById("logout").textContent = t(lang, "logout");
  panel.render();
}

async function start() {
  applyLanguage(lang);
  document.getElementById("lang").replaceChildren(languageSwitch(lang, (chosen) => {
    lang = chosen;
    renderAll();
  }));
  const me = await ctx.call("/api/v1/auth/me");
  if (me.role === "admin") {
    location.replace("/admin#import");
    return;
  }
  showStaff(me);
  panel.element.classList.remove("hidden");
  document.getElementById("panel").replaceChildren(panel.element);
  renderAll();
}

start().catch((err) => {
  if (err instanceof ApiError && err.status === 401) return; // on the way to the login page
  const status = document.getElementById("page-status");
  status.className = "error";
  status.textContent = isTransient(err) ? t(lang, "network") : err.message;
});

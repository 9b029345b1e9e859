// The short privacy notice on the guest's forms: collapsed, plain, with the operator from the server and a
// link to the whole notice at /privacy.
import { api, el } from "/static/api.js";
import { translator } from "/static/lang.js";

const TEXTS = {
  en: {
    summary: "Your data: who keeps it and why",
    controller: "Kept by {name} ({contact}), because the accommodation registration rules require it (legal obligation).",
    seen: "Your host sees your name and masked numbers; the local police see everything, each look-up recorded; " +
      "statistics use totals only; nobody else.",
    kept: "Deleted {days} days (about {years} years) after your stay. To see, correct or delete your data, write to {contact}.",
    more: "Full privacy notice",
  },
  zh: {
    summary: "您的信息由谁保存、为何收集",
    controller: "由{name}（{contact}）依照住宿登记的法定要求保存（履行法定义务）。",
    seen: "房东只看到您的姓名和打码的号码；本辖区公安机关可查看全部信息，每次查询均有记录；统计只用汇总数字；其他人看不到。",
    kept: "住宿结束 {days} 天（约 {years} 年）后删除。如需查阅、更正或删除，请联系 {contact}。",
    more: "查看完整隐私声明",
  },
};
const text = translator(TEXTS);
const facts = {};

function load(lang) {
  facts[lang] ??= api(`/api/v1/public/privacy?lang=${lang}`).catch(() => {
    delete facts[lang]; // offline: the next render asks again
    return null;
  });
  return facts[lang];
}

/** A collapsed notice in ``lang``; the operator's name and contact fill in when the server answers. */
export function privacyNotice(lang) {
  const body = el("div", {});
  const fill = (known) => {
    const params = known
      ? { name: known.operator_name, contact: known.operator_contact, days: known.retention_days,
        years: (known.retention_days / 365).toFixed(1).replace(/\.0$/, "") }
      : null;
    body.replaceChildren(...[
      params ? el("p", {}, text(lang, "controller", params)) : null,
      el("p", {}, text(lang, "seen")),
      params ? el("p", {}, text(lang, "kept", params)) : null,
      el("p", {}, el("a", { href: `/privacy#${lang}`, target: "_blank", rel: "noopener" }, text(lang, "more"))),
    ].filter(Boolean));
  };
  fill(null);
  load(lang).then((known) => known && fill(known));
  return el("details", { class: "privacy-notice card" }, el("summary", {}, text(lang, "summary")), body);
}

/** The link to the whole notice, for receipts and certificates. */
export function privacyLink(lang) {
  return el("a", { class: "privacy-link", href: `/privacy#${lang}`, target: "_blank", rel: "noopener" }, text(lang, "more"));
}

// The certificate check at /verify#<certificate>. The signature is verified in this browser (WebCrypto
// Ed25519) against the published keys, which the device keeps, so the check works offline; online, the
// service is asked too, and only it knows whether the police revoked a certificate.
import { api, ApiError, el } from "/static/api.js";
import { acceptLanguage, applyLanguage, initialLanguage, languageSwitch, translator } from "/static/lang.js";

// The verdict is always said in both languages: the desk and the guest may not share one.
const VERDICTS = {
  valid: ["有效", "Valid"],
  expired: ["已过期", "Expired"],
  revoked: ["已吊销", "Revoked"],
  forged: ["伪造或无效", "Forged"],
  unknown_certificate: ["非本系统签发", "Not issued by us"],
  not_yet_valid: ["尚未生效", "Not yet valid"],
  unknown_key: ["暂时无法核验", "Cannot check yet"],
};
const TEXTS = {
  en: {
    title: "Check a certificate",
    idle: "Scan the QR code of an electronic accommodation certificate, or paste it below.",
    checking: "Checking…",
    "why.valid": "The signature is genuine and the certificate is in force.",
    "why.expired": "The signature is genuine, but the stay it covers is over.",
    "why.revoked": "The signature is genuine, but the police have revoked this certificate.",
    "why.forged": "The signature does not match: this certificate was altered, or not issued by this service.",
    "why.unknown_certificate": "The signature uses this service's key, but the service never issued a certificate with this number: treat it as forged and call the police.",
    "why.not_yet_valid": "The signature is genuine, but the stay it covers has not begun.",
    "why.unknown_key": "The signing keys are not on this device yet: connect to the internet once and check again.",
    holder: "Holder",
    document: "Document",
    birth_year: "Born in",
    compare: "Is this the person in front of you? Ask them to say their full name, document number and year " +
      "of birth, or to show any photo ID, and compare with the holder above: the certificate carries no photo.",
    place: "Place",
    area: "Area",
    valid_from: "Valid from",
    valid_until: "Valid until",
    number: "Certificate number",
    checked_here: "✓ Signature verified on this device",
    no_webcrypto: "This browser cannot verify signatures itself; the service did.",
    checked_online: "✓ Revocation checked with the service",
    offline: "Offline: checked on this device only; a revocation cannot be seen until you are online.",
    certificate: "Certificate (the scanned link or its text)",
    check: "Check",
    scan: "Scan with camera",
    stop: "Stop camera",
    no_camera: "The camera could not be opened. Paste the certificate instead.",
  },
  zh: {
    title: "核验电子住宿凭证",
    idle: "请扫描电子住宿凭证的二维码，或在下方粘贴凭证内容。",
    checking: "正在核验…",
    "why.valid": "签名真实，凭证在有效期内。",
    "why.expired": "签名真实，但凭证所载住宿已结束。",
    "why.revoked": "签名真实，但该凭证已被公安机关吊销。",
    "why.forged": "签名不符：该凭证被篡改，或并非本系统签发。",
    "why.unknown_certificate": "签名使用了本系统的密钥，但本系统从未签发该编号的凭证：请按伪造处理并报警。",
    "why.not_yet_valid": "签名真实，但凭证所载住宿尚未开始。",
    "why.unknown_key": "本机尚未保存签名公钥，请联网后再核验一次。",
    holder: "持有人",
    document: "证件",
    birth_year: "出生年份",
    compare: "是否为本人？请对方说出姓名、完整证件号码和出生年份，或出示任何带照片的证件，与上方持有人信息核对：凭证不含照片。",
    place: "住所",
    area: "辖区",
    valid_from: "生效时间",
    valid_until: "失效时间",
    number: "凭证编号",
    checked_here: "✓ 已在本机核验签名",
    no_webcrypto: "此浏览器无法自行核验签名，已由服务器核验。",
    checked_online: "✓ 已向服务器查询吊销状态",
    offline: "离线：仅在本机核验，联网后才能查询是否被吊销。",
    certificate: "凭证（扫描得到的链接或其内容）",
    check: "核验",
    scan: "扫码核验",
    stop: "关闭摄像头",
    no_camera: "无法打开摄像头，请粘贴凭证内容。",
  },
};
const text = translator(TEXTS);
const KEYS_STORE = "vh.jwks";
const CLOCK_LEEWAY_SECONDS = 300; // as the service: phones' clocks drift

let lang = initialLanguage();
const t = (key) => text(lang, key);
const verdictBox = document.getElementById("verdict");
const inputBox = document.getElementById("input");
let result = null; // {status, claims, local, online} of the last check
let keysFetched = false;

// ---- the published keys, kept on this device ----

function storedKeys() {
  try {
    return JSON.parse(localStorage.getItem(KEYS_STORE) || "null")?.keys ?? [];
  } catch {
    return [];
  }
}

/** The key set: fetched once per page when online (a kid names its key for ever), else the kept copy. */
async function keys() {
  if (!keysFetched) {
    try {
      const jwks = await api("/.well-known/jwks.json");
      localStorage.setItem(KEYS_STORE, JSON.stringify({ keys: jwks.keys, fetched_at: Date.now() }));
      keysFetched = true;
    } catch {
      /* offline: the kept copy */
    }
  }
  return storedKeys();
}

// ---- checking ----

function bytes(part) {
  const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

const json = (part) => JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes(part)));

/** The certificate in a scanned or pasted text: the part after "#" of a verify link, or the token itself. */
function tokenIn(value) {
  const trimmed = (value || "").trim();
  return decodeURIComponent(trimmed.includes("#") ? trimmed.slice(trimmed.indexOf("#") + 1) : trimmed);
}

/** The verdict of this device alone: {status, claims}; null when this browser has no Ed25519. */
async function checkHere(token) {
  const parts = token.split(".");
  let header;
  try {
    if (parts.length !== 3) throw new Error("not a compact JWS");
    header = json(parts[0]);
  } catch {
    return { status: "forged", claims: null };
  }
  if (header.alg !== "EdDSA") return { status: "forged", claims: null };
  const jwk = (await keys()).find((k) => k.kid === header.kid);
  if (!jwk) return { status: navigator.onLine ? "forged" : "unknown_key", claims: null };
  let good;
  try {
    const key = await crypto.subtle.importKey("jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, { name: "Ed25519" },
      false, ["verify"]);
    good = await crypto.subtle.verify({ name: "Ed25519" }, key, bytes(parts[2]),
      new TextEncoder().encode(`${parts[0]}.${parts[1]}`));
  } catch (err) {
    if (err?.name === "NotSupportedError" || !crypto.subtle) return null;
    good = false;
  }
  if (!good) return { status: "forged", claims: null };
  let claims;
  try {
    claims = json(parts[1]);
  } catch {
    return { status: "forged", claims: null };
  }
  const now = Date.now() / 1000;
  const status = claims.exp <= now ? "expired" : claims.nbf > now + CLOCK_LEEWAY_SECONDS ? "not_yet_valid" : "valid";
  return { status, claims };
}

/** The service's verdict, which alone knows revocations; null when it cannot be reached. */
async function checkOnline(token) {
  try {
    return await api("/api/v1/certificates/verify", { method: "POST", body: { token }, lang: acceptLanguage(lang) });
  } catch (err) {
    // Refused outright (say, far too long to be a certificate): not one of ours.
    if (err instanceof ApiError && err.status < 500) return { status: "forged", claims: null };
    return null;
  }
}

async function check(token) {
  result = { status: "checking" };
  render();
  const local = await checkHere(token);
  const online = await checkOnline(token);
  const final = online ?? local ?? { status: "unknown_key", claims: null };
  result = { status: final.status, claims: final.claims, local, online };
  render();
}

// ---- the camera ----

let scanning = null; // {stream, video} while the camera is open

async function scan() {
  try {
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    const video = el("video", { class: "scanner", playsinline: true, muted: true });
    video.srcObject = stream;
    scanning = { stream, video };
    renderInput();
    await video.play();
    while (scanning?.video === video) {
      const found = (await detector.detect(video).catch(() => [])).find((code) => code.rawValue);
      if (found) {
        stopScan();
        use(found.rawValue);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } catch {
    stopScan();
    renderInput(t("no_camera"));
  }
}

function stopScan() {
  scanning?.stream.getTracks().forEach((track) => track.stop());
  scanning = null;
  renderInput();
}

function use(value) {
  const token = tokenIn(value);
  if (!token) return;
  // The fragment holds it, so a reload checks it again and it never reaches a server log.
  history.replaceState(null, "", `#${token}`);
  check(token);
}

// ---- rendering ----

/** "2026-12-03 12:00 (UTC+8, Asia/Shanghai)": in the service's zone, named, whatever this device's zone. */
function when(seconds, zone) {
  const parts = (options) => Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: zone, ...options })
    .formatToParts(new Date(seconds * 1000)).map((p) => [p.type, p.value]));
  const d = parts({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const offset = parts({ timeZoneName: "shortOffset" }).timeZoneName.replace("GMT", "UTC");
  return `${d.year}-${d.month}-${d.day} ${d.hour}:${d.minute} (${offset === "UTC" ? "UTC+0" : offset}, ${zone})`;
}

/** The zone the claims' times are shown in: the one they were issued in, else the service's, else this device's. */
function zoneOf(claims) {
  const zone = claims.tz ?? result.online?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone;
  } catch {
    return "UTC"; // a zone this browser does not know
  }
}

function render() {
  document.title = t("title");
  document.getElementById("title").textContent = t("title");
  if (!result) {
    verdictBox.replaceChildren(el("p", { class: "muted" }, t("idle")));
  } else if (result.status === "checking") {
    verdictBox.replaceChildren(el("p", { class: "notice" }, t("checking")));
  } else {
    const [zh, en] = VERDICTS[result.status];
    const c = result.claims;
    verdictBox.replaceChildren(
      el("div", { class: `verdict verdict-${result.status}`, role: "status", "data-status": result.status },
        el("p", { class: "verdict-zh", lang: "zh-CN" }, zh),
        el("p", { class: "verdict-en", lang: "en" }, en)),
      el("p", { class: "why" }, t(`why.${result.status}`)),
      c ? holderCard(c) : "",
      c ? el("dl", { class: "facts" },
        el("dt", {}, t("place")), el("dd", {}, c.dwelling?.name ?? "", el("br"), el("span", { class: "muted" }, c.dwelling?.address ?? "")),
        el("dt", {}, t("area")), el("dd", { class: "area" }, c.area_name ?? result.online?.area_name ?? c.area ?? ""),
        el("dt", {}, t("valid_from")), el("dd", { class: "valid-from" }, when(c.nbf, zoneOf(c))),
        el("dt", {}, t("valid_until")), el("dd", { class: "valid-until" }, when(c.exp, zoneOf(c))),
        el("dt", {}, t("number")), el("dd", { class: "certificate-number" }, c.jti ?? "")) : "",
      el("ul", { class: "how-checked muted" },
        el("li", {}, result.local ? t("checked_here") : t("no_webcrypto")),
        el("li", { class: result.online ? "online" : "offline" }, result.online ? t("checked_online") : t("offline"))),
    );
  }
  renderInput();
}

/** Who the certificate belongs to, large enough to compare across a desk. */
function holderCard(c) {
  return el("section", { class: "holder-card", "aria-label": t("holder") },
    el("p", { class: "holder" }, c.name ?? ""),
    el("p", { class: "holder-document" }, el("span", { class: "muted" }, `${t("document")} `), el("span", { class: "masked" }, c.doc ?? "")),
    c.birth_year ? el("p", { class: "holder-birth" }, el("span", { class: "muted" }, `${t("birth_year")} `), String(c.birth_year)) : "",
    el("p", { class: "compare" }, t("compare")));
}

function renderInput(problem = null) {
  const box = el("textarea", { id: "certificate-text", rows: "3", spellcheck: "false", autocapitalize: "off" });
  const canScan = "BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia;
  inputBox.replaceChildren(
    scanning ? scanning.video : "",
    canScan ? el("p", {}, el("button", { type: "button", class: "wide secondary", onclick: scanning ? stopScan : scan },
      scanning ? t("stop") : t("scan"))) : "",
    el("label", { for: "certificate-text" }, t("certificate")),
    box,
    problem ? el("p", { class: "error", role: "alert" }, problem) : "",
    el("p", {}, el("button", { type: "button", class: "wide", onclick: () => use(box.value) }, t("check"))),
  );
}

applyLanguage(lang);
document.getElementById("lang").replaceChildren(languageSwitch(lang, (chosen) => {
  lang = chosen;
  render();
}));
window.addEventListener("hashchange", () => use(location.hash.slice(1)));
// The page itself is kept for offline use by a service worker (secure origins only).
navigator.serviceWorker?.register("/verify-sw.js", { scope: "/verify" }).catch(() => {});
render();
if (location.hash.length > 1) check(tokenIn(location.hash));
else keys();

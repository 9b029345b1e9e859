// Small fetch wrapper shared by the pages: JSON in and out, CSRF header, problem details as errors.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  // Field name -> translated message, from the problem's "errors" list.
  get fieldErrors() {
    return Object.fromEntries((this.problem.errors || []).map((e) => [e.field, e.message]));
  }
}

/** What a failed call says to the person: the problem's title and its fields' messages, each once
 * (a one-field problem often has the same sentence as title and as the field's message). */
export function problemText(err) {
  return [...new Set([err.message, ...Object.values(err.fieldErrors || {})])].join(" ");
}

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

export async function api(path, { method = "GET", body, headers = {}, lang } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (lang) init.headers["Accept-Language"] = lang;
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const csrf = cookie("csrftoken");
  if (csrf && method !== "GET") init.headers["X-CSRFToken"] = csrf;
  const response = await fetch(path, init);
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Where each role lands after logging in. */
export const HOME_BY_ROLE = {
  landlord: "/landlord", desk: "/landlord", police: "/police", admin: "/admin", analyst: "/police#statistics",
};

/** Staff pages: an expired session goes to the login page, which comes back here afterwards. */
export async function staffApi(path, options = {}) {
  try {
    return await api(path, options);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      location.replace(`/login?next=${encodeURIComponent(location.pathname + location.hash)}`);
    }
    throw err;
  }
}

/** A staff page's header: who is logged in, and a log-out button that always ends on the login page. */
export function showStaff(me) {
  document.getElementById("who").textContent = me.display_name || me.username;
  const logout = document.getElementById("logout");
  logout.classList.remove("hidden");
  logout.addEventListener("click", async () => {
    try {
      await api("/api/v1/auth/logout", { method: "POST" });
    } finally {
      location.assign("/login");
    }
  });
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c != null));
  return node;
}

// ---- Idempotent writes on a bad network ----

/** A fresh Idempotency-Key; getRandomValues also works where randomUUID does not (plain http). */
export function newIdempotencyKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// About 30 s in all before giving up; the person can then press the button again (same key).
export const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A network failure or a 5xx: worth sending again with the same key. A 4xx is final. */
export function isTransient(err) {
  return !(err instanceof ApiError) || err.status >= 500;
}

/**
 * Call ``attempt()`` again after a network failure or a 5xx answer, 1 s, 2 s, 4 s ... apart;
 * a 4xx answer, or the last failure, is thrown. ``onRetry(n, delayMs, error)`` before each retry.
 */
export async function retrying(attempt, { onRetry, delays = RETRY_DELAYS_MS } = {}) {
  for (let n = 0; ; n += 1) {
    try {
      return await attempt();
    } catch (err) {
      if (!isTransient(err) || n >= delays.length) throw err;
      onRetry?.(n + 1, delays[n], err);
      await sleep(delays[n]);
    }
  }
}

/**
 * POST with an Idempotency-Key, sent again with the same key after a network failure or a
 * 5xx answer: the server keeps one record however often the request arrives.
 */
export function postIdempotent(path, body, { key, lang, onRetry, delays } = {}) {
  const headers = { "Idempotency-Key": key };
  return retrying(() => api(path, { method: "POST", body, lang, headers }), { onRetry, delays });
}

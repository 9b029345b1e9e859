import { HOME_BY_ROLE, api } from "/static/api.js";

// One "/" and then neither "/" nor "\": a browser reads "//host" and "/\host" as another site.
const SINGLE_SLASH = /^\/(?![/\\])/;

// Only a path on this site, checked as typed and again after the browser's normalisation:
// "/.//evil.example" normalises to "//evil.example", and tabs or newlines vanish from URLs.
function inSitePath(next) {
  if (!next || !SINGLE_SLASH.test(next) || /[\\\u0000-\u001f]/.test(next)) return null;
  const url = new URL(next, location.origin);
  const path = url.pathname + url.search + url.hash;
  return url.origin === location.origin && SINGLE_SLASH.test(url.pathname) ? path : null;
}

const form = document.getElementById("login");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.classList.add("hidden");
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const session = await api("/api/v1/auth/login", {
      method: "POST",
      body: { username: form.username.value.trim(), password: form.password.value },
      lang: navigator.language,
    });
    location.assign(inSitePath(new URLSearchParams(location.search).get("next")) || HOME_BY_ROLE[session.role]);
  } catch (err) {
    error.textContent = err.message;
    error.classList.remove("hidden");
  } finally {
    button.disabled = false;
  }
});
form.querySelector("button").disabled = false;

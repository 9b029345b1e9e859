import { api } from "/static/api.js";

const HOME_BY_ROLE = { landlord: "/landlord", desk: "/landlord", police: "/police", admin: "/schema" };

// Only a path on this site: "//evil.example" or "/\evil.example" would leave it.
function sameOriginPath(next) {
  if (!next) return null;
  const url = new URL(next, location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : null;
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
    location.assign(sameOriginPath(new URLSearchParams(location.search).get("next")) || HOME_BY_ROLE[session.role]);
  } catch (err) {
    error.textContent = err.message;
    error.classList.remove("hidden");
  } finally {
    button.disabled = false;
  }
});
form.querySelector("button").disabled = false;

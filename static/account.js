// One's own account: the logins since the last one, a new password, ending other sessions.
import { ApiError, HOME_BY_ROLE, api, showStaff, staffApi } from "/static/api.js";

function show(id, text) {
  const node = document.getElementById(id);
  node.textContent = text;
  node.classList.toggle("hidden", !text);
}

function ended(count) {
  return `已退出 ${count} 个其他会话。 ${count} other session(s) ended.`;
}

// Not logged in: staffApi has already sent the browser to the login page.
const me = await staffApi("/api/v1/auth/me").catch((err) => {
  if (err instanceof ApiError && err.status === 401) return null;
  throw err;
});
if (me) showAccount(me);

function showAccount(me) {
  showStaff(me);
  document.getElementById("home").href = HOME_BY_ROLE[me.role] || "/";
  show("previous-login", me.previous_login_at
    ? `上次登录 Previous login: ${new Date(me.previous_login_at).toLocaleString()}`
    : "这是首次登录。 This is the first login.");
  if (me.failed_logins_since_previous_login > 0) {
    show("failed-logins", `自上次登录以来，有 ${me.failed_logins_since_previous_login} 次登录失败。如果不是您本人，请修改密码。 `
      + `${me.failed_logins_since_previous_login} failed login(s) since your previous login. If it was not you, change your password.`);
  }
}

document.getElementById("end-sessions").addEventListener("click", async () => {
  const result = await api("/api/v1/auth/sessions/revoke", { method: "POST" });
  show("sessions-result", ended(result.sessions_ended));
});

const form = document.getElementById("password");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  show("password-error", "");
  show("password-result", "");
  if (form.new_password.value !== form.confirm_password.value) {
    show("password-error", "两次输入的新密码不一致。 The new passwords differ.");
    return;
  }
  try {
    const result = await api("/api/v1/auth/password", {
      method: "POST",
      body: { current_password: form.current_password.value, new_password: form.new_password.value },
      lang: navigator.language,
    });
    form.reset();
    show("password-result", `密码已修改。 Password changed. ${ended(result.sessions_ended)}`);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    show("password-error", Object.values(err.fieldErrors).join(" ") || err.message);
  }
});

// What this phone keeps of its remote-verification applications for one dwelling: a list, newest
// first, so a family applying one by one keeps every certificate until it expires. Shared by the
// application page (/r/{token}/apply) and the registration page (/r/{token}), which lists them again
// when the door code is scanned once more.

const key = (token) => `vh.applications.${token}`;
const OLD_KEY = (token) => `vh.application.${token}`; // one application per phone, before the list

function read(name) {
  try {
    return JSON.parse(localStorage.getItem(name) || "null");
  } catch {
    return null;
  }
}

const expired = (application) => Boolean(application.certificate && Date.parse(application.certificate.expires_at) <= Date.now());

/** The applications kept for this dwelling, expired certificates left out (and forgotten). */
export function keptApplications(token) {
  const old = read(OLD_KEY(token));
  const list = [...(read(key(token)) || []), ...(old ? [old] : [])].filter((a) => a && a.id && a.secret);
  const current = list.filter((a) => !expired(a));
  if (old || current.length !== list.length) saveApplications(token, current);
  return current;
}

export function saveApplications(token, list) {
  try {
    if (list.length) localStorage.setItem(key(token), JSON.stringify(list));
    else localStorage.removeItem(key(token));
    localStorage.removeItem(OLD_KEY(token));
  } catch {
    /* storage disabled: the page still works until it is closed */
  }
}

/** The address that opens one kept certificate (or application) on the application page. */
export const applicationUrl = (token, application) =>
  `/r/${encodeURIComponent(token)}/apply#${encodeURIComponent(application.id)}`;
